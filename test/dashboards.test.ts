// The test that matters for the dashboards: on a native stack of its own (every service, nginx, the
// exporters, Prometheus), a short realistic load through nginx, then every query of every panel of every
// dashboard — its variables expanded from Prometheus through the variable's own query — runs as an
// instant query against that Prometheus and must return data. A panel that may rightly be empty on a
// healthy stack is in MAY_BE_EMPTY with the reason; it must still run and read only metric and label
// names Prometheus knows. Every empty or failing query is reported at once, by name.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newAccount, waitFor } from '@taskfleet/infra';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { Dashboard, PanelQuery } from './support/dashboards.ts';
import {
  expand,
  loadDashboards,
  MAY_BE_EMPTY,
  matcherLabels,
  metricNames,
  panelKey,
  panelQueries,
  promtoolParseProblems,
  queryPanels,
  variableQuery,
} from './support/dashboards.ts';
import { edgeStack, native } from './support/edge-stack.ts';

// The autoscaler's dashboard: the stack runs one as `make up` does, in dry run (it decides and counts
// every pass, never scales), a pass every 5 s so its counters move within the test.
const stack = edgeStack('dashboards', {
  serviceEnv: { RATE_LIMIT_AUTH_MAX: '40' },
  autoscaler: { mode: 'dry-run', env: { AUTOSCALER_INTERVAL: '5s' } },
});
const scratch = mkdtempSync(join(tmpdir(), 'dashboards-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface PromResponse<T> {
  status: 'success' | 'error';
  data: T;
  error?: string;
  errorType?: string;
}
type Sample = { metric: Record<string, string>; value: [number, string] };

async function prom<T>(
  path: string,
  params: Record<string, string | string[]> = {},
): Promise<PromResponse<T>> {
  const { host, port } = stack.state.endpoints.prometheus;
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) for (const one of [v].flat()) query.append(k, one);
  const res = await fetch(`http://${host}:${port}${path}?${query}`);
  return (await res.json()) as PromResponse<T>;
}

/** A short slice of realistic traffic through nginx: creates with keys, reads, lists, updates, a few 4xx. */
async function loadRound(
  edge: string,
  accounts: { authorization: string }[],
  round: number,
): Promise<number> {
  let requests = 0;
  const call = async (path: string, init: RequestInit = {}) => {
    requests++;
    const res = await fetch(`${edge}${path}`, init);
    await res.body?.cancel();
    return res;
  };
  const send = (method: string, body: unknown, headers: Record<string, string>): RequestInit => ({
    method,
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  });
  await Promise.all(
    accounts.map(async (auth, a) => {
      const key = `dash-${round}-${a}-${crypto.randomUUID()}`;
      const create = () =>
        fetch(
          `${edge}/v1/tasks`,
          send('POST', { title: `load ${round}` }, { ...auth, 'idempotency-key': key }),
        );
      requests++;
      const created = await create();
      // A create refused (a 503 while a gateway sheds, say) ends this account's slice: the rest reads it.
      if (created.status !== 201) return void (await created.body?.cancel());
      const { id } = (await created.json()) as { id: string };
      requests++;
      await (await create()).body?.cancel(); // the client's retry: replayed, not created twice
      for (let i = 0; i < 4; i++) await call(`/v1/tasks/${id}`, { headers: auth }); // L2, then L1 hits
      await call('/v1/tasks?limit=20', { headers: auth });
      await call('/v1/tasks?limit=20&status=todo', { headers: auth });
      await call('/v1/tasks/summary', { headers: auth });
      await call(`/v1/tasks/${id}`, send('PATCH', { status: 'done' }, { ...auth, 'if-match': '"1"' }));
      await call(`/v1/tasks/${id}`, { headers: auth }); // read your write
      // A few 4xx, as real clients send: a stale If-Match, an unknown task, no token, a bad body.
      await call(`/v1/tasks/${id}`, send('PATCH', { title: 'late' }, { ...auth, 'if-match': '"1"' }));
      await call(`/v1/tasks/${crypto.randomUUID()}`, { headers: auth });
      await call('/v1/tasks');
      await call('/v1/tasks', send('POST', { nope: true }, auth));
    }),
  );
  return requests;
}

const parseDuration = (d: string) => {
  const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };
  const m = /^(\d+)(ms|s|m|h)$/.exec(d);
  if (!m) throw new Error(`duration ${d}`);
  return Number(m[1]) * units[m[2]!]!;
};

describe.skipIf(!native)('dashboards against a real Prometheus', () => {
  const dashboards = loadDashboards();
  const queries = panelQueries(dashboards.values());

  it('every query of every panel returns data after a short load (allow-list excepted)', async () => {
    // Grafana's rate window is at least four scrape intervals; a minute keeps every window several
    // scrapes wide on a busy machine too (what Grafana computes for a range of a few hours).
    const config = await prom<{ yaml: string }>('/api/v1/status/config');
    const scrape = parseDuration(
      (parse(config.data.yaml) as { global: { scrape_interval: string } }).global.scrape_interval,
    );
    const rateInterval = `${Math.max(4 * scrape, 60)}s`;
    const intervals = {
      __rate_interval: rateInterval,
      __interval: `${scrape}s`,
      __range: '1h',
      __range_s: '3600',
    };

    const accounts = await Promise.all(
      [1, 2, 3].map(async () => (await newAccount(stack.edge, 'dash')).auth),
    );
    let round = 0;
    let sent = 0;
    sent += await loadRound(stack.edge, accounts, round++);
    // Prometheus has scraped the load once the gateways' counters show it (nginx retries aside).
    await waitFor(
      'Prometheus to scrape the load from the gateways',
      async () => {
        const r = await prom<{ result: Sample[] }>('/api/v1/query', {
          query: 'sum(http_request_duration_seconds_count{job="gateway", route=~"/v1/.*"})',
        });
        return Number(r.data.result[0]?.value[1] ?? 0) >= sent;
      },
      { timeoutMs: 120_000, intervalMs: 1_000 },
    );

    // The values each dashboard's variables take, from their own queries ("All" selected).
    const variableValues = async (d: Dashboard) => {
      const multi: Record<string, string[]> = {};
      const problems: string[] = [];
      for (const v of d.templating.list.filter((x) => x.type === 'query')) {
        const m = /^label_values\((.*),\s*(\w+)\)$/.exec(variableQuery(v));
        if (!m) {
          problems.push(`${d.uid}: variable ${v.name}: not label_values(selector, label)`);
          continue;
        }
        const r = await prom<string[]>(`/api/v1/label/${m[2]}/values`, {
          'match[]': expand(m[1]!, { multi, intervals }),
        });
        if (r.status !== 'success' || r.data.length === 0)
          problems.push(`${d.uid}: variable ${v.name} has no values (${r.error ?? 'none'})`);
        multi[v.name] = r.data?.length ? r.data : [`no-value-of-${v.name}`];
      }
      return { multi, problems };
    };

    // Names Prometheus knows: scraped metadata (even for a labelled counter never incremented), series
    // names, and recording rules. A typo'd name is in none of them.
    const knownNames = async () => {
      const metadata = await prom<Record<string, unknown>>('/api/v1/metadata');
      const names = await prom<string[]>('/api/v1/label/__name__/values');
      const rules = await prom<{ groups: { rules: { name: string }[] }[] }>('/api/v1/rules');
      return new Set([
        ...Object.keys(metadata.data),
        ...names.data,
        ...rules.data.groups.flatMap((g) => g.rules.map((r) => r.name)),
      ]);
    };

    const allowed = (q: PanelQuery) => MAY_BE_EMPTY[q.key] ?? MAY_BE_EMPTY[panelKey(q.dashboard, q.panel)];
    // Every query with the variables as they are now: a target scraped for the first time later (the
    // probes, a replica) adds values, so this is redone on every look.
    const expandAll = async () => {
      const expanded = new Map<PanelQuery, string>();
      const variableProblems: string[] = [];
      for (const d of dashboards.values()) {
        const { multi, problems } = await variableValues(d);
        variableProblems.push(...problems);
        for (const q of queries.filter((x) => x.dashboard === d))
          expanded.set(q, expand(q.target.expr, { multi, intervals }));
      }
      return { expanded, variableProblems };
    };

    // Every expression parses (allow-listed ones too), before any waiting.
    const first = await expandAll();
    expect(
      await promtoolParseProblems(
        queries.map((q) => ({ key: q.key, expr: first.expanded.get(q)! })),
        scratch,
      ),
    ).toEqual([]);

    /** undefined: data; else why not. */
    const evaluate = async (expr: string): Promise<string | undefined> => {
      const r = await prom<{ result: Sample[] }>('/api/v1/query', { query: expr });
      if (r.status !== 'success') return `${r.errorType}: ${r.error}`;
      const values = r.data.result.map((s) => Number(s.value[1]));
      if (values.length === 0) return 'no data';
      if (values.every(Number.isNaN)) return 'only NaN';
      return undefined;
    };
    const EMPTY = new Set(['no data', 'only NaN']);
    const evaluateAll = async () => {
      const { expanded, variableProblems } = await expandAll();
      const results = new Map<PanelQuery, string | undefined>();
      for (const q of queries) results.set(q, await evaluate(expanded.get(q)!));
      const failing = [...results].filter(([q, problem]) => problem && !(EMPTY.has(problem) && allowed(q)));
      return { results, failing, variableProblems };
    };

    // Some series appear a little later than the requests (recording rules, the relay's events, the
    // invalidations): keep a light load going and look again until every panel has data, or the bound.
    let outcome = await evaluateAll();
    const deadline = Date.now() + 180_000;
    while ((outcome.failing.length > 0 || outcome.variableProblems.length > 0) && Date.now() < deadline) {
      await loadRound(stack.edge, accounts, round++);
      // At most one load slice per scrape interval: the machine is shared.
      await new Promise((r) => setTimeout(r, scrape * 1000));
      outcome = await evaluateAll();
    }

    // Every metric name must be known, and where the metric has series every label a matcher uses
    // must be on one of them — so a typo is caught in an allow-listed (possibly empty) panel too.
    const known = await knownNames();
    const isKnown = (name: string) => known.has(name) || known.has(name.replace(/_(bucket|sum|count)$/, ''));
    const labelsOf = new Map<string, Set<string>>();
    const namingProblems = async (key: string, expr: string) => {
      const problems = metricNames(expr)
        .filter((n) => !isKnown(n))
        .map((n) => `${key}: unknown metric ${n}`);
      for (const [metric, labels] of matcherLabels(expr)) {
        if (!labelsOf.has(metric)) {
          const series = await prom<Record<string, string>[]>('/api/v1/series', { 'match[]': metric });
          labelsOf.set(metric, new Set((series.data ?? []).flatMap((s) => Object.keys(s))));
        }
        const present = labelsOf.get(metric)!;
        for (const label of labels)
          if (present.size > 0 && !present.has(label))
            problems.push(`${key}: ${metric} has no label ${label}`);
      }
      return problems;
    };
    const unknownNames: string[] = [];
    for (const q of queries) unknownNames.push(...(await namingProblems(q.key, q.target.expr)));
    // The check can fail: a typo'd metric and a typo'd label are named.
    expect(
      await namingProblems('typo', 'sum(rate(tasks_cache_hitz_total{job="tasks"}[$__rate_interval]))'),
    ).toEqual(['typo: unknown metric tasks_cache_hitz_total']);
    expect(await namingProblems('typo', 'http_request_duration_seconds_count{statuscode="200"}')).toEqual([
      'typo: http_request_duration_seconds_count has no label statuscode',
    ]);

    // A target Prometheus can't scrape empties every panel of its metrics: say so first, with why.
    const targets = await prom<{
      activeTargets: { labels: Record<string, string>; health: string; lastError: string }[];
    }>('/api/v1/targets', { state: 'active' });
    const down = targets.data.activeTargets
      .filter((t) => t.health !== 'up')
      .map((t) => `target ${t.labels.job} ${t.labels.instance} is ${t.health}: ${t.lastError}`);
    const report = [
      ...down,
      ...outcome.variableProblems,
      ...outcome.failing.map(([q, problem]) => `${q.key}: ${problem}`),
      ...unknownNames,
    ];
    const withData = [...outcome.results.values()].filter((p) => p === undefined).length;
    const allowedEmpty = [...outcome.results].filter(([q, p]) => p && EMPTY.has(p) && allowed(q));
    const panelCount = [...dashboards.values()].reduce((n, d) => n + queryPanels(d).length, 0);
    process.stdout.write(
      `dashboards: ${dashboards.size} dashboards, ${panelCount} panels, ${queries.length} queries: ` +
        `${withData} with data, ${allowedEmpty.length} empty and allow-listed ` +
        `(${allowedEmpty.map(([q]) => q.key).join('; ')}), ${report.length} problems\n`,
    );
    expect(report).toEqual([]);
  }, 600_000);
});
