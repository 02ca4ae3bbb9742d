// The dashboard lint: the generated JSON is what the specs in grafana/src produce, every dashboard is
// well-formed (unique uids, a unit on every panel, the Prometheus datasource, Grafana's windows instead
// of fixed ones, no undefined variable), every query parses (promtool), and compose provisions the
// folder the provider reads. Whether the queries return data is test/dashboards.test.ts, on a real stack.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from '@taskfleet/infra';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderDashboards } from '../../grafana/src/index.ts';
import type { Dashboard } from '../support/dashboards.ts';
import {
  duplicateUids,
  expand,
  lintDashboard,
  loadDashboards,
  MAY_BE_EMPTY,
  matcherLabels,
  metricNames,
  PARSE_VALUES,
  panelKey,
  panelQueries,
  promtoolParseProblems,
  queryPanels,
  variableQuery,
} from '../support/dashboards.ts';

const dashboards = loadDashboards();
const datasources = parse(
  readFileSync(repoPath('grafana/provisioning/datasources/prometheus.yml'), 'utf8'),
) as {
  datasources: { uid: string; type: string }[];
};
const DATASOURCE_UID = datasources.datasources.find((d) => d.type === 'prometheus')!.uid;
const scratch = mkdtempSync(join(tmpdir(), 'dashboards-lint-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// A copy of a real dashboard with one thing broken: the lint must name it.
const broken = (edit: (d: Dashboard) => void): Dashboard => {
  const copy = structuredClone(dashboards.get('taskfleet-overview.json')!);
  edit(copy);
  return copy;
};

describe('grafana/dashboards', () => {
  it('holds exactly what grafana/src generates (run `node grafana/src/generate.ts` after a change)', () => {
    const generated = renderDashboards();
    expect([...dashboards.keys()].sort()).toEqual([...generated.keys()].sort());
    for (const [file, json] of generated)
      expect(dashboards.get(file), file).toEqual(JSON.parse(JSON.stringify(json)));
  });

  it('are well-formed: unique uids, units, datasource, Grafana windows, defined variables', () => {
    expect(dashboards.size).toBeGreaterThanOrEqual(7);
    expect(duplicateUids(dashboards.values())).toEqual([]);
    const problems = [...dashboards.values()].flatMap((d) => lintDashboard(d, DATASOURCE_UID));
    expect(problems).toEqual([]);
  });

  it('lint rejects what it is there to reject', () => {
    const first = (d: Dashboard) => d.panels.find((p) => p.type !== 'row')!;
    const cases: [string, Dashboard, RegExp][] = [
      ['no unit', broken((d) => delete first(d).fieldConfig!.defaults!.unit), /no unit/],
      [
        'fixed window',
        broken((d) => {
          first(d).targets![0]!.expr = 'sum(rate(up[5m]))';
        }),
        /fixed window \[5m\]/,
      ],
      [
        'undefined variable',
        broken((d) => {
          first(d).targets![0]!.expr = 'up{job=~"$service"}';
        }),
        /undefined variable \$service/,
      ],
      [
        'datasource',
        broken((d) => {
          first(d).datasource = { type: 'loki', uid: 'logs' };
        }),
        /datasource not set/,
      ],
      [
        'no job variable',
        broken((d) => {
          d.templating.list = d.templating.list.filter((v) => v.name !== 'job');
        }),
        /no job query variable/,
      ],
      [
        'old schema',
        broken((d) => {
          d.schemaVersion = 27;
        }),
        /schemaVersion 27/,
      ],
    ];
    for (const [what, dashboard, problem] of cases)
      expect(lintDashboard(dashboard, DATASOURCE_UID).join('\n'), what).toMatch(problem);
    const twice = [dashboards.get('taskfleet-overview.json')!, broken(() => {})];
    expect(duplicateUids(twice)).toEqual(['taskfleet-overview']);
  });

  it('every query and variable query parses (promtool), variables expanded', async () => {
    const queries = panelQueries(dashboards.values()).map((q) => ({
      key: q.key,
      expr: expand(q.target.expr, PARSE_VALUES),
    }));
    // label_values(selector, label): the selector is PromQL too.
    for (const d of dashboards.values())
      for (const v of d.templating.list.filter((x) => x.type === 'query')) {
        const selector = /^label_values\((.*),\s*\w+\)$/.exec(variableQuery(v))?.[1];
        queries.push({ key: `${d.uid} › variable ${v.name}`, expr: expand(selector ?? '(', PARSE_VALUES) });
      }
    expect(queries.length).toBeGreaterThan(100);
    expect(await promtoolParseProblems(queries, scratch)).toEqual([]);
    // And the check fails on a typo, naming the query.
    const typo = await promtoolParseProblems([{ key: 'typo', expr: 'sum(rate(up[1m])' }], scratch);
    expect(typo.join()).toMatch(/"typo".*unclosed left parenthesis/);
  });

  it('the allow-list of panels that may be empty names real panels, each documented with its reason', () => {
    const keys = new Set([
      ...panelQueries(dashboards.values()).map((q) => q.key),
      ...[...dashboards.values()].flatMap((d) => queryPanels(d).map((p) => panelKey(d, p))),
    ]);
    expect(Object.keys(MAY_BE_EMPTY).filter((k) => !keys.has(k))).toEqual([]);
    const guide = readFileSync(repoPath('docs/operations.md'), 'utf8');
    const documented = [...guide.matchAll(/^\| `([^`]+)` \| (.+?) \|$/gm)].map((m) => [m[1], m[2]]);
    expect(documented.filter(([key]) => key!.startsWith('taskfleet-'))).toEqual(Object.entries(MAY_BE_EMPTY));
  });

  it('expands variables the way Grafana does for Prometheus', () => {
    const values = {
      multi: { job: ['a', 'b'], instance: ['127.0.0.1:80'] },
      intervals: { __rate_interval: '1m' },
    };
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template.
    expect(expand('rate(x{job=~"$job",instance=~"${instance}"}[$__rate_interval])', values)).toBe(
      'rate(x{job=~"(a|b)",instance=~"127\\\\.0\\\\.0\\\\.1:80"}[1m])',
    );
  });

  it('finds the metric names and matcher labels a query reads', () => {
    const expr =
      'histogram_quantile(0.95, sum by (job, le) (rate(http_request_duration_seconds_bucket{job=~"$job", route=~"/v1/.*"}[$__rate_interval]))) / ignoring (x) group_left max(gateway:slo_availability_error_ratio:rate5m) or vector(0) - time()';
    expect(metricNames(expr).sort()).toEqual(
      ['gateway:slo_availability_error_ratio:rate5m', 'http_request_duration_seconds_bucket'].sort(),
    );
    expect(matcherLabels(expr).get('http_request_duration_seconds_bucket')).toEqual(['job', 'route']);
  });
});

describe('grafana provisioning', () => {
  const provider = parse(readFileSync(repoPath('grafana/provisioning/dashboards/taskfleet.yml'), 'utf8')) as {
    apiVersion: number;
    providers: { type: string; options: { path: string } }[];
  };
  const compose = parse(readFileSync(repoPath('docker-compose.yml'), 'utf8')) as {
    services: { grafana: { volumes: string[] } };
  };
  const mounts = new Map(
    compose.services.grafana.volumes.map((v) => {
      const [source, target] = v.split(':') as [string, string];
      return [target, source];
    }),
  );

  it('the provider reads the folder compose mounts grafana/dashboards at', () => {
    expect(provider.apiVersion).toBe(1);
    expect(provider.providers).toHaveLength(1);
    const [file] = provider.providers;
    expect(file!.type).toBe('file');
    expect(mounts.get(file!.options.path)).toBe('./grafana/dashboards');
  });

  it('the provisioning folder holding the provider and the datasource is mounted too', () => {
    expect(mounts.get('/etc/grafana/provisioning')).toBe('./grafana/provisioning');
    // The dashboards' datasource variable defaults to the provisioned datasource.
    for (const d of dashboards.values())
      expect(d.templating.list.find((v) => v.type === 'datasource')?.current?.value, d.uid).toBe(
        DATASOURCE_UID,
      );
  });
});
