// The alerting configuration as a whole: every alert rule is complete (severity, summary, description,
// a runbook that exists) and has promtool cases that expect it to fire and to stay quiet; Alertmanager
// routes critical to the page receiver and warning to the ticket receiver, takes its webhook URLs from
// the environment, and mutes what its inhibition rules say. (promtool runs the cases themselves in
// edge-monitoring.test.ts.)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ALERTMANAGER_WEBHOOK_VARIABLES, renderAlertmanagerConfig } from '../src/components/prometheus.ts';
import { binary, repoPath, run, waitFor } from '../src/index.ts';
import { testStack } from '../src/vitest/index.ts';

interface RuleFile {
  groups: { name: string; rules: Record<string, unknown>[] }[];
}
interface TestFile {
  rule_files: string[];
  tests: {
    alert_rule_test?: { alertname: string; exp_alerts?: { exp_labels?: Record<string, string> }[] }[];
  }[];
}

const SEVERITIES = ['critical', 'warning'];
// Alerts that fire on the first evaluation on purpose, and why.
const NO_FOR: Record<string, string> = {
  // Its expression already looks back 10 minutes (increase), and one message not a task event is news.
  InvalidationsDeadLettered: 'increase over 10m: one dead letter is worth a ticket',
};

const readYaml = <T>(dir: string, file: string) => parse(readFileSync(join(dir, file), 'utf8')) as T;
const yamlFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.yml'));

/**
 * What is wrong with a set of rule files and promtool test files: incomplete alerts, runbooks that don't
 * exist, alerts (per severity) no test case expects to fire, alerts no test case expects to stay quiet.
 */
function auditAlerts(
  rules: Record<string, RuleFile>,
  tests: Record<string, TestFile>,
  fileExists: (path: string) => boolean,
  index: string,
): string[] {
  const problems: string[] = [];
  const fires = new Set<string>();
  const quiet = new Set<string>();
  for (const test of Object.values(tests))
    for (const group of test.tests)
      for (const c of group.alert_rule_test ?? []) {
        if (!c.exp_alerts?.length) quiet.add(c.alertname);
        for (const a of c.exp_alerts ?? []) fires.add(`${c.alertname}/${a.exp_labels?.severity}`);
      }
  for (const [file, doc] of Object.entries(rules))
    for (const group of doc.groups)
      for (const rule of group.rules) {
        if (typeof rule.alert !== 'string') continue;
        const name = rule.alert;
        const where = `${file}: ${name}`;
        const labels = (rule.labels ?? {}) as Record<string, string>;
        const annotations = (rule.annotations ?? {}) as Record<string, string>;
        if (!SEVERITIES.includes(labels.severity ?? ''))
          problems.push(`${where}: severity is not critical|warning`);
        for (const key of ['summary', 'description', 'runbook_url'])
          if (!annotations[key]) problems.push(`${where}: no ${key}`);
        const runbook = annotations.runbook_url;
        if (runbook && !(runbook.startsWith('docs/runbooks/') && fileExists(runbook)))
          problems.push(`${where}: runbook ${runbook} does not exist`);
        if (rule.for === undefined && !(name in NO_FOR))
          problems.push(`${where}: no for (a blip would fire)`);
        if (!fires.has(`${name}/${labels.severity}`))
          problems.push(`${where}: no test case expects it to fire (severity ${labels.severity})`);
        if (!quiet.has(name)) problems.push(`${where}: no test case expects it to stay quiet`);
        if (!index.includes(`| \`${name}\` |`))
          problems.push(`${where}: not in the table of docs/runbooks/README.md`);
      }
  return problems;
}

const rulesDir = repoPath('prometheus/rules');
const testsDir = repoPath('prometheus/tests');
const ruleFiles = Object.fromEntries(yamlFiles(rulesDir).map((f) => [f, readYaml<RuleFile>(rulesDir, f)]));
const testFiles = Object.fromEntries(yamlFiles(testsDir).map((f) => [f, readYaml<TestFile>(testsDir, f)]));

describe('alert rules', () => {
  it('each has a severity, summary, description, a runbook that exists, and tests firing and quiet', () => {
    const alerts = Object.values(ruleFiles).flatMap((d) =>
      d.groups.flatMap((g) => g.rules.filter((r) => r.alert)),
    );
    expect(alerts.length).toBeGreaterThan(30);
    const index = readFileSync(repoPath('docs/runbooks/README.md'), 'utf8');
    expect(auditAlerts(ruleFiles, testFiles, (p) => existsSync(repoPath(p)), index)).toEqual([]);
  });

  it('the audit catches an untested, undocumented alert, a missing runbook, severity and for', () => {
    const rules: Record<string, RuleFile> = {
      'x.yml': {
        groups: [
          {
            name: 'x',
            rules: [
              { record: 'x:y:rate5m', expr: 'vector(1)' },
              {
                alert: 'Tested',
                expr: 'up == 0',
                for: '1m',
                labels: { severity: 'critical' },
                annotations: { summary: 's', description: 'd', runbook_url: 'docs/runbooks/there.md' },
              },
              {
                alert: 'Untested',
                expr: 'up == 0',
                labels: { severity: 'page' },
                annotations: { summary: 's', runbook_url: 'docs/runbooks/gone.md' },
              },
            ],
          },
        ],
      },
    };
    const tests: Record<string, TestFile> = {
      'x.test.yml': {
        rule_files: ['../rules/x.yml'],
        tests: [
          {
            alert_rule_test: [
              { alertname: 'Tested', exp_alerts: [] },
              { alertname: 'Tested', exp_alerts: [{ exp_labels: { severity: 'critical' } }] },
            ],
          },
        ],
      },
    };
    expect(
      auditAlerts(rules, tests, (p) => p === 'docs/runbooks/there.md', '| `Tested` | critical |'),
    ).toEqual([
      'x.yml: Untested: severity is not critical|warning',
      'x.yml: Untested: no description',
      'x.yml: Untested: runbook docs/runbooks/gone.md does not exist',
      'x.yml: Untested: no for (a blip would fire)',
      'x.yml: Untested: no test case expects it to fire (severity page)',
      'x.yml: Untested: no test case expects it to stay quiet',
      'x.yml: Untested: not in the table of docs/runbooks/README.md',
    ]);
  });

  it('keeps the recording rules the dashboards are built on', () => {
    const records = Object.values(ruleFiles).flatMap((d) =>
      d.groups.flatMap((g) => g.rules.map((r) => r.record).filter(Boolean)),
    );
    for (const sli of ['slo_availability_error_ratio', 'slo_latency_slow_ratio'])
      for (const w of ['5m', '30m', '1h', '6h', '3d']) expect(records).toContain(`gateway:${sli}:rate${w}`);
    expect(records).toContain('gateway:requests:rate5m');
  });

  it('measures the SLIs without the health and metrics routes the services register', () => {
    // The routes shared/service registers for probes and scrapes, as they appear in the route label.
    const source = ['health.ts', 'metrics.ts']
      .map((f) => readFileSync(repoPath('shared/service/src', f), 'utf8'))
      .join('\n');
    const probeRoutes = [...source.matchAll(/app\.get\('([^']+)'/g)].map((m) => m[1]!);
    expect(probeRoutes.sort()).toEqual(['/health/live', '/health/ready', '/metrics']);
    const slo = readFileSync(join(rulesDir, 'slo.yml'), 'utf8');
    const selectors = [...slo.matchAll(/http_request_duration_seconds_\w+\{([^}]*)\}/g)].map((m) => m[1]!);
    expect(selectors.length).toBeGreaterThan(20);
    for (const selector of selectors) {
      const excluded = /route!~"([^"]+)"/.exec(selector)?.[1];
      expect(excluded, selector).toBeDefined();
      // Prometheus anchors regular expressions: the whole label value has to match.
      for (const route of probeRoutes) expect(new RegExp(`^(?:${excluded})$`).test(route), route).toBe(true);
      for (const route of ['/v1/tasks', '/v1/tasks/*', '/v1/auth/*', '/.well-known/jwks.json', 'unmatched'])
        expect(new RegExp(`^(?:${excluded})$`).test(route), route).toBe(false);
      expect(selector).toContain('job="gateway"');
    }
  });
});

describe('the rules in the running Prometheus', () => {
  const { prometheus } = testStack().state.endpoints;
  interface Group {
    name: string;
    interval: number;
    rules: { name: string; health: 'ok' | 'err' | 'unknown'; lastError?: string }[];
  }

  it('loads every group and evaluates every rule without an error (vector matching is only checked live)', async () => {
    const groups = await waitFor(
      "the stack's Prometheus to evaluate its short-interval rule groups",
      async () => {
        const res = await fetch(`http://${prometheus.host}:${prometheus.port}/api/v1/rules`);
        const list = ((await res.json()) as { data: { groups: Group[] } }).data.groups;
        // Groups of 1 minute may not have run yet; the others run every few seconds.
        const pending = list
          .filter((g) => g.interval < 60)
          .flatMap((g) => g.rules.filter((r) => r.health === 'unknown'));
        return pending.length === 0 ? list : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    const declared = Object.values(ruleFiles).flatMap((d) => d.groups.map((g) => g.name));
    expect(groups.map((g) => g.name).sort()).toEqual(declared.sort());
    const failing = groups.flatMap((g) =>
      g.rules.filter((r) => r.health === 'err').map((r) => `${r.name}: ${r.lastError}`),
    );
    expect(failing).toEqual([]);
  });
});

describe('the exporter metrics the alerts read, in the running stack', () => {
  const { prometheus } = testStack().state.endpoints;
  // Each alert input from an exporter, with how many series the native stack has of it: a renamed metric
  // or label (an exporter upgrade, a typo in a rule) leaves an alert that can never fire.
  const inputs: [string, number][] = [
    ['pg_up{job="postgres", node=~"primary|replica1|replica2"}', 3],
    ['node:pg_connections_utilisation:ratio{node=~"primary|replica1|replica2"}', 3],
    ['pg_replication_lag_seconds{job="postgres"}', 3],
    ['pg_replication_slots_active{job="postgres", node="primary"}', 2],
    ['pgbouncer_up{job="pgbouncer"}', 1],
    ['count(pgbouncer_waiting_clients{job="pgbouncer"}) > 0', 1],
    ['redis_up{job="redis"}', 1],
    ['nginx_up{job="nginx"}', 1],
    ['instance:node_cpu_utilisation:rate5m', 1],
    ['instance:node_memory_utilisation:ratio', 1],
  ];

  it.each(inputs)('%s has %i series', async (query, count) => {
    const url = `http://${prometheus.host}:${prometheus.port}/api/v1/query?query=${encodeURIComponent(query)}`;
    let last = -1;
    await waitFor(
      `${query} to have ${count} series`,
      async () => {
        const body = (await (await fetch(url)).json()) as { data: { result: unknown[] } };
        last = body.data.result.length;
        return last === count;
      },
      { timeoutMs: 45_000, intervalMs: 1_000 },
    ).catch(() => undefined);
    expect(last).toBe(count);
  });
});

describe('alertmanager', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'taskfleet-alertmanager-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  const template = readFileSync(repoPath('prometheus/alertmanager.yml'), 'utf8');
  const env = {
    ALERTMANAGER_CRITICAL_WEBHOOK_URL: 'https://events.example.net/v2/enqueue?token=abc',
    ALERTMANAGER_WARNING_WEBHOOK_URL: "https://tickets.example.net/hook/it's",
  };
  const rendered = join(scratch, 'alertmanager.yml');
  writeFileSync(rendered, renderAlertmanagerConfig(template, env));

  it('takes each webhook URL from its variable, and passes amtool check-config', async () => {
    const receivers = (
      parse(readFileSync(rendered, 'utf8')) as {
        receivers: { name: string; webhook_configs: { url: string }[] }[];
      }
    ).receivers;
    expect(Object.fromEntries(receivers.map((r) => [r.name, r.webhook_configs.map((w) => w.url)]))).toEqual({
      page: [env.ALERTMANAGER_CRITICAL_WEBHOOK_URL],
      ticket: [env.ALERTMANAGER_WARNING_WEBHOOK_URL],
    });
    for (const name of ALERTMANAGER_WEBHOOK_VARIABLES) expect(template).toContain(`# env: ${name}`);
    await expect(run(binary('amtool'), ['check-config', rendered])).resolves.toMatch(/SUCCESS/);
  });

  it('keeps local defaults without the variables, and refuses a value that is not an http(s) URL unechoed', () => {
    expect(renderAlertmanagerConfig(template, {})).toBe(template);
    const defaults = (parse(template) as { receivers: { webhook_configs: { url: string }[] }[] }).receivers;
    for (const r of defaults)
      for (const w of r.webhook_configs) expect(new URL(w.url).hostname).toBe('127.0.0.1');
    const secret = 'ftp://user:s3cret@example.net/';
    expect(() => renderAlertmanagerConfig(template, { ALERTMANAGER_WARNING_WEBHOOK_URL: secret })).toThrow(
      /ALERTMANAGER_WARNING_WEBHOOK_URL is not an http\(s\) URL$/,
    );
    expect(() =>
      renderAlertmanagerConfig(template, { ALERTMANAGER_WARNING_WEBHOOK_URL: secret }),
    ).not.toThrow(/s3cret/);
  });

  it('renders the same in a container: prometheus/alertmanager-entrypoint.sh (POSIX sh + awk) agrees', () => {
    const script = repoPath('prometheus/alertmanager-entrypoint.sh');
    const viaSh = (vars: Record<string, string>) =>
      spawnSync('sh', [script, '--render'], { input: template, env: { PATH: process.env.PATH, ...vars } });
    const tricky = { ...env, ALERTMANAGER_CRITICAL_WEBHOOK_URL: 'https://e.example.net/v1?a=1&b=\\2' };
    for (const vars of [{}, env, tricky]) {
      const out = viaSh(vars);
      expect(out.status, out.stderr.toString()).toBe(0);
      expect(out.stdout.toString()).toBe(renderAlertmanagerConfig(template, vars));
    }
    const refused = viaSh({ ALERTMANAGER_CRITICAL_WEBHOOK_URL: 'ftp://user:s3cret@example.net/' });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr.toString()).toBe(
      'alertmanager.yml: ALERTMANAGER_CRITICAL_WEBHOOK_URL is not an http(s) URL\n',
    );
  });

  it.each([
    ['severity=critical alertname=TargetDown job=gateway', 'page'],
    ['severity=critical alertname=GatewayAvailabilityBudgetBurnFast slo=availability', 'page'],
    ['severity=warning alertname=HostCpuHigh', 'ticket'],
    ['severity=warning alertname=GatewayAvailabilityBudgetBurnSlow slo=availability', 'ticket'],
    ['alertname=SomethingWithoutSeverity', 'ticket'],
  ])('routes %s to %s', async (labels, receiver) => {
    // --verify.receivers makes amtool exit non-zero when the route differs.
    const out = await run(binary('amtool'), [
      'config',
      'routes',
      'test',
      `--config.file=${rendered}`,
      `--verify.receivers=${receiver}`,
      ...labels.split(' '),
    ]);
    expect(out.trim()).toBe(receiver);
  });

  it('fails a route test that expects the wrong receiver (the check above can fail)', async () => {
    await expect(
      run(binary('amtool'), [
        'config',
        'routes',
        'test',
        `--config.file=${rendered}`,
        '--verify.receivers=page',
        'severity=warning',
      ]),
    ).rejects.toThrow();
  });
});

describe('alertmanager inhibition, on the running Alertmanager', () => {
  // The stack's Alertmanager runs the repo's configuration. Alerts posted here carry a label of this run
  // (no rule groups by it, their notifications go to the local default URLs and fail there) and end a
  // minute after they start, so nothing of them outlasts the test.
  const { alertmanager } = testStack().state.endpoints;
  const api = `http://${alertmanager.host}:${alertmanager.port}/api/v2`;
  const runId = `alerts-test-${process.pid}-${Date.now()}`;

  interface Posted {
    labels: Record<string, string>;
  }
  const post = async (alerts: Posted[]) => {
    const now = Date.now();
    const body = alerts.map((a) => ({
      labels: { ...a.labels, run_id: runId },
      annotations: { summary: 'test' },
      startsAt: new Date(now).toISOString(),
      endsAt: new Date(now + 60_000).toISOString(),
    }));
    const res = await fetch(`${api}/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
  };
  const states = async () => {
    const res = await fetch(`${api}/alerts?filter=${encodeURIComponent(`run_id="${runId}"`)}`);
    const alerts = (await res.json()) as {
      labels: Record<string, string>;
      status: { inhibitedBy: string[] };
    }[];
    return Object.fromEntries(
      alerts.map((a) => [
        `${a.labels.alertname}/${a.labels.severity}${a.labels.probe ? `/${a.labels.probe}` : ''}`,
        a.status.inhibitedBy.length > 0,
      ]),
    );
  };

  it('mutes the consequences and keeps the causes and unrelated alerts', async () => {
    await post([
      // An SLO page mutes the same SLO's ticket and KPI warning, not the other SLO's ticket.
      {
        labels: { alertname: 'GatewayAvailabilityBudgetBurnFast', severity: 'critical', slo: 'availability' },
      },
      {
        labels: { alertname: 'GatewayAvailabilityBudgetBurnSlow', severity: 'warning', slo: 'availability' },
      },
      { labels: { alertname: 'GatewayErrorRateHigh', severity: 'warning', slo: 'availability' } },
      { labels: { alertname: 'GatewayLatencyBudgetBurnSlow', severity: 'warning', slo: 'latency' } },
      // Two severities of one alert: the critical one is enough.
      {
        labels: { alertname: 'TlsCertificateExpiring', severity: 'critical', instance: 'https://edge:8443/' },
      },
      {
        labels: { alertname: 'TlsCertificateExpiring', severity: 'warning', instance: 'https://edge:8443/' },
      },
      // Redis down mutes the idempotency store alert.
      { labels: { alertname: 'RedisDown', severity: 'critical', job: 'redis' } },
      { labels: { alertname: 'IdempotencyStoreUnavailable', severity: 'warning' } },
      // The edge probe failing mutes the probes behind it.
      { labels: { alertname: 'SyntheticProbeFailing', severity: 'critical', probe: 'edge-health' } },
      { labels: { alertname: 'SyntheticProbeFailing', severity: 'critical', probe: 'jwks' } },
    ]);
    const expected = {
      'GatewayAvailabilityBudgetBurnFast/critical': false,
      'GatewayAvailabilityBudgetBurnSlow/warning': true,
      'GatewayErrorRateHigh/warning': true,
      'GatewayLatencyBudgetBurnSlow/warning': false,
      'TlsCertificateExpiring/critical': false,
      'TlsCertificateExpiring/warning': true,
      'RedisDown/critical': false,
      'IdempotencyStoreUnavailable/warning': true,
      'SyntheticProbeFailing/critical/edge-health': false,
      'SyntheticProbeFailing/critical/jwks': true,
    };
    // The inhibitor sees posted alerts a moment after the API accepts them: the last listing counts.
    let seen: Record<string, boolean> = {};
    await waitFor(
      'the posted alerts to be listed with their inhibition',
      async () => {
        seen = await states();
        const canonical = (o: Record<string, boolean>) => JSON.stringify(Object.entries(o).sort());
        return canonical(seen) === canonical(expected);
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    ).catch(() => undefined);
    expect(seen).toEqual(expected);
  });
});
