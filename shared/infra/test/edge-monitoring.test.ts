import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  binary,
  checkNginxConfig,
  ensureCertificate,
  freePorts,
  guardStack,
  repoPath,
  run,
  startNginx,
  startSideStack,
  stopStack,
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

/** The access-log line of the request with `requestId`, parsed (nginx writes it within flush=1s). */
async function accessLine(file: string, requestId: string): Promise<Record<string, unknown>> {
  // Other test files use the shared nginx too: the line is found by its request id, not its place.
  const line = await waitFor(
    'the request in the access log',
    () =>
      readFileSync(file, 'utf8')
        .split('\n')
        .find((l) => l.includes(requestId)),
    { timeoutMs: 10_000, intervalMs: 200 },
  );
  return JSON.parse(line) as Record<string, unknown>;
}
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
    const entry = await accessLine(accessLog, requestId);
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

  it("logs the gateway it used, that gateway's status and traceresponse, and passes the header on", async () => {
    // A stand-in gateway that answers everything with a traceresponse, as the real one does.
    const traceresponse = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const gateway = createServer((_req, res) => {
      res.setHeader('traceresponse', traceresponse);
      res.end('{}');
    });
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
    const { port } = gateway.address() as AddressInfo;
    // An nginx of our own in front of it (the shared one has no gateway), stopped with its folder.
    const dir = join(stack.state.dir, `edge-w${stack.worker}-${crypto.randomUUID().slice(0, 8)}`);
    mkdirSync(dir, { recursive: true });
    guardStack(dir, process.pid, join(dir, 'watchdog.log'));
    const [httpPort, httpsPort, statusPort] = (await freePorts(3)) as [number, number, number];
    try {
      await startSideStack(stack.state, dir, (ctx) =>
        startNginx(ctx, {
          host: '127.0.0.1',
          httpPort,
          httpsPort,
          statusPort,
          gateways: [{ host: '127.0.0.1', port }],
        }),
      );
      const requestId = `access-log-${crypto.randomUUID()}`;
      const res = await fetch(`http://127.0.0.1:${httpPort}/v1/tasks/123`, {
        headers: { 'x-request-id': requestId },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('traceresponse')).toBe(traceresponse);
      const entry = await accessLine(join(dir, 'logs', 'nginx-access.log'), requestId);
      expect(entry).toMatchObject({
        request_id: requestId,
        uri: '/v1/tasks/123',
        status: 200,
        bytes: 2,
        upstream: `127.0.0.1:${port}`,
        upstream_status: '200',
        traceparent: '',
        traceresponse,
      });
      expect(Number(entry.upstream_time)).toBeGreaterThanOrEqual(0);
    } finally {
      await stopStack(dir);
      gateway.close();
    }
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
    // promtool evaluates days of rule history (the 3-day SLO windows): ≈8 s of CPU, far more when busy.
  }, 300_000);

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
