import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  binary,
  checkNginxConfig,
  ensureCertificate,
  repoPath,
  run,
  waitFor,
  writeNginxConfig,
  writePrometheusConfig,
} from '../src/index.ts';
import { testStack } from '../src/vitest/index.ts';

const stack = testStack();
const { nginx, prometheus, alertmanager } = stack.state.endpoints;
const edge = `http://${nginx.host}:${nginx.httpPort}`;
// nginx writes its access log beside its error log (the component's log file).
const accessLog = join(
  dirname(stack.state.components.find((c) => c.kind === 'nginx')!.logFile),
  'nginx-access.log',
);
const scratch = mkdtempSync(join(tmpdir(), 'taskfleet-config-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('nginx from nginx/nginx.conf.template', () => {
  it.each([
    ['no gateway yet', []],
    [
      'two gateways',
      [
        { host: '127.0.0.1', port: 20001 },
        { host: '127.0.0.1', port: 20002 },
      ],
    ],
  ])('passes nginx -t with %s', async (_, gateways) => {
    const { args, tlsDir } = writeNginxConfig(join(scratch, `nginx-${gateways.length}`), {
      host: '127.0.0.1',
      httpPort: 20080,
      httpsPort: 20443,
      statusPort: 20081,
      gateways,
    });
    await ensureCertificate(tlsDir);
    await expect(checkNginxConfig(args)).resolves.toBeUndefined();
  });

  it('is running and answers its own health check', async () => {
    const res = await fetch(`${edge}/nginx-health`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok\n');
  });

  it('answers problem+json 503 with Retry-After while no gateway is up, and echoes a request id', async () => {
    const res = await fetch(`${edge}/v1/tasks`, { headers: { 'x-request-id': 'abc-123' } });
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('retry-after')).toBe('5');
    expect(await res.json()).toMatchObject({ status: 503, code: 'EDGE_ERR_UPSTREAM_UNAVAILABLE' });
  });

  it('never exposes internal paths at the edge', async () => {
    for (const path of ['/metrics', '/health/ready', '/health/live', '/admin/x']) {
      const res = await fetch(`${edge}${path}`);
      expect(res.status, path).toBe(404);
    }
    // stub_status lives on the internal listener only; at the edge the path is just another API path.
    expect(await (await fetch(`${edge}/stub_status`)).text()).not.toMatch(/Active connections/);
    const res = await fetch(`${edge}/nginx-health`);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('server')).toBe('nginx'); // server_tokens off: no version
  });

  it('writes one JSON access-log line per request, with the request id and the trace context', async () => {
    const requestId = `access-log-${crypto.randomUUID()}`;
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await fetch(`${edge}/v1/tasks`, { headers: { 'x-request-id': requestId, traceparent } });
    // Other test files use this nginx too: find our line by its request id (written within flush=1s).
    const line = await waitFor(
      'the request in the access log',
      async () =>
        readFileSync(accessLog, 'utf8')
          .split('\n')
          .find((l) => l.includes(requestId)),
      { timeoutMs: 10_000, intervalMs: 200 },
    );
    const entry = JSON.parse(line) as Record<string, unknown>;
    expect(Object.keys(entry).sort()).toEqual(
      [
        'bytes',
        'method',
        'remote_addr',
        'request_id',
        'request_time',
        'status',
        'time',
        'traceparent',
        'traceresponse',
        'upstream',
        'upstream_status',
        'upstream_time',
        'uri',
      ].sort(),
    );
    expect(entry).toMatchObject({
      request_id: requestId,
      method: 'GET',
      uri: '/v1/tasks',
      status: 503,
      traceparent,
    });
    expect(typeof entry.bytes).toBe('number');
    expect(typeof entry.request_time).toBe('number');
    expect(Date.parse(entry.time as string)).not.toBeNaN();
    // No gateway in this stack: nothing answered upstream, so no traceresponse (a string all the same).
    expect(entry.traceresponse).toBe('');
  });

  it('serves stub_status on the internal listener only', async () => {
    const res = await fetch(`http://${nginx.host}:${nginx.statusPort}/stub_status`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/Active connections: \d+/);
  });
});

describe('prometheus and alertmanager from prometheus/', () => {
  it('passes promtool check config, the rule unit tests and amtool check-config', async () => {
    const dir = await writePrometheusConfig(join(scratch, 'prometheus'), {
      prometheus: { host: '127.0.0.1', port: 20090 },
      alertmanager: { host: '127.0.0.1', port: 20093 },
      rabbitmqMetrics: { host: '127.0.0.1', port: 20092 },
      services: [{ job: 'tasks', host: '127.0.0.1', port: 20100 }],
    });
    const out = await run(binary('promtool'), ['check', 'config', join(dir, 'prometheus.yml')]);
    expect(out).toMatch(/SUCCESS/);
    // Every rule file has its unit tests, and every alert its runbook.
    const ruleFiles = readdirSync(repoPath('prometheus/rules'));
    const testFiles = readdirSync(repoPath('prometheus/tests'));
    expect(testFiles.sort()).toEqual(ruleFiles.map((f) => f.replace(/\.yml$/, '.test.yml')).sort());
    const results = await run(binary('promtool'), [
      'test',
      'rules',
      ...testFiles.map((f) => repoPath('prometheus/tests', f)),
    ]);
    expect(results.match(/SUCCESS/g)).toHaveLength(testFiles.length);
    for (const file of ruleFiles) {
      const text = readFileSync(repoPath('prometheus/rules', file), 'utf8');
      for (const [, runbook] of text.matchAll(/runbook_url: (\S+)/g))
        expect(existsSync(repoPath(runbook!)), `${file}: ${runbook}`).toBe(true);
    }
    await expect(
      run(binary('amtool'), ['check-config', repoPath('prometheus/alertmanager.yml')]),
    ).resolves.toMatch(/SUCCESS/);
  });

  it('scrapes prometheus, alertmanager and rabbitmq, and knows its alertmanager', async () => {
    const api = `http://${prometheus.host}:${prometheus.port}/api/v1`;
    const upJobs = await waitFor(
      'every target to be scraped and up',
      async () => {
        const body = (await (await fetch(`${api}/query?query=up`)).json()) as {
          data: { result: { metric: { job: string }; value: [number, string] }[] };
        };
        // The exporters' jobs have a test of their own (exporters.test.ts).
        const up = body.data.result
          .filter(
            (r) => r.value[1] === '1' && ['alertmanager', 'prometheus', 'rabbitmq'].includes(r.metric.job),
          )
          .map((r) => r.metric.job)
          .sort();
        return up.length === 3 ? up : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(upJobs).toEqual(['alertmanager', 'prometheus', 'rabbitmq']);
    const rules = (await (await fetch(`${api}/rules`)).json()) as { data: { groups: { name: string }[] } };
    expect(rules.data.groups.map((g) => g.name)).toContain('infrastructure');
    const ams = (await (await fetch(`${api}/alertmanagers`)).json()) as {
      data: { activeAlertmanagers: { url: string }[] };
    };
    expect(ams.data.activeAlertmanagers.map((a) => a.url)).toEqual([
      `http://${alertmanager.host}:${alertmanager.port}/api/v2/alerts`,
    ]);
  });
});
