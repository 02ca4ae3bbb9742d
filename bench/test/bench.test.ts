// The benchmark's own machinery that needs servers: the open loop's accounting of queueing against a
// stalling HTTP server, and one whole `bench --profile smoke` run on a stack of its own. (The Zipf draw,
// percentiles and pgbench scripts are in test/unit/.)
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processesOfStacks, REPO_ROOT, TEST_BASE_PORTS, TEST_STACK_PREFIX } from '@taskfleet/infra';
import { testStack } from '@taskfleet/infra/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedLoop, latencyMs, openLoop } from '../src/load.ts';
import type { RunResults } from '../src/results.ts';

describe('load shapes', () => {
  let server: Server;
  let origin: string;
  let stallUntil = 0;
  beforeAll(async () => {
    // Answers at once, except while "stalled": then every request waits until the stall ends.
    server = createServer((_req, res) => {
      const wait = Math.max(0, stallUntil - Date.now());
      setTimeout(() => res.end('ok'), wait);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const next = () => ({ method: 'GET' as const, path: '/', headers: {}, expect: [200] });

  it('an open loop counts the wait of requests due during a stall; a closed loop hides it', async () => {
    // A 600 ms stall one second into a 3 s run. Closed loop, one connection: one request sees it.
    setTimeout(() => {
      stallUntil = Date.now() + 600;
    }, 1000);
    const closed = await closedLoop({ origin, durationS: 3, connections: 1, next });
    setTimeout(() => {
      stallUntil = Date.now() + 600;
    }, 1000);
    const open = await openLoop({ origin, durationS: 3, connections: 1, rate: 200, next });

    const c = latencyMs(closed.histogram);
    const o = latencyMs(open.histogram);
    expect(closed.errors + open.errors).toBe(0);
    // ≈120 of the open loop's ≈600 requests fell due during the stall and waited 0–600 ms.
    expect(open.requests).toBeGreaterThanOrEqual(590);
    expect(o.p95).toBeGreaterThan(200);
    expect(o.max).toBeGreaterThan(500);
    // The closed loop sent hundreds of fast requests and one slow one: its p95 looks perfect.
    expect(c.p95).toBeLessThan(20);
    expect(c.max).toBeGreaterThan(500);
  });

  it('reports every status and counts unexpected ones as errors', async () => {
    const result = await closedLoop({
      origin,
      durationS: 1,
      connections: 2,
      next: () => ({ method: 'GET', path: '/', headers: {}, expect: [204] }),
    });
    expect(result.requests).toBeGreaterThan(0);
    expect(result.errors).toBe(result.requests);
    expect(result.statuses['200']).toBe(result.requests);
    expect(result.timeline.length).toBeGreaterThanOrEqual(1);
  });
});

// One whole run on a stack of its own: the same code path as `make bench`, seconds instead of minutes.
const native = testStack().state.runtime === 'native';
describe.skipIf(!native)('bench --profile smoke', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), `${TEST_STACK_PREFIX}bench-`));
    chmodSync(dir, 0o755); // Postgres runs as its own OS user and must reach the stack below
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('measures every scenario and ceiling, writes JSON and HTML, and stops what it started', async () => {
    const out = join(dir, 'results');
    const args = [
      '--conditions=@taskfleet/source',
      join(REPO_ROOT, 'bench/src/cli.ts'),
      '--profile',
      'smoke',
    ];
    args.push('--dir', join(dir, 'bench'), '--out', out, '--base-port', String(TEST_BASE_PORTS.bench));
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d;
    });
    const code = await new Promise<number | null>((r) => child.on('close', r));
    expect(code, output.slice(-3000)).toBe(0);

    const json = readdirSync(out).find((f) => f.endsWith('.json'));
    expect(json).toBeDefined();
    const results = JSON.parse(readFileSync(join(out, json!), 'utf8')) as RunResults;
    const names = new Set(results.measurements.map((m) => `${m.name}/${m.mode}`));
    for (const scenario of ['read-hot', 'read-list', 'write-create', 'mixed', 'ceiling-proxy-hello']) {
      expect(names).toContain(`${scenario}/closed`);
      expect(names).toContain(`${scenario}/open`);
    }
    for (const name of ['connections-10k/open', 'ceiling-pg-read/closed', 'ceiling-pg-write/closed']) {
      expect(names).toContain(name);
    }
    expect(results.dataset.users).toBeGreaterThanOrEqual(100);
    expect(results.dataset.tasks).toBeGreaterThanOrEqual(5000);
    expect(results.dataset.partitions).toBeGreaterThanOrEqual(4);
    for (const m of results.measurements) {
      expect(m.requests, m.name).toBeGreaterThan(0);
      expect(m.rps, m.name).toBeGreaterThan(0);
      // Two cores shared with the rest of the test suite: a stray 503 from load shedding may happen.
      expect(m.error_rate, `${m.name} ${JSON.stringify(m.statuses)}`).toBeLessThan(0.01);
    }
    const hot = results.measurements.find((m) => m.name === 'read-hot' && m.mode === 'closed')!;
    expect(hot.cache_hit_ratio).toBeGreaterThan(0);
    expect(hot.replica_read_share).toBeGreaterThan(0);
    for (const kind of ['nginx', 'gateway', 'tasks', 'client'])
      expect(Object.keys(hot.cpu_cores)).toContain(kind);
    const write = results.measurements.find((m) => m.name === 'ceiling-pg-write')!;
    expect(write.cpu_cores.postgres).toBeGreaterThan(0);
    expect(results.ratios['read-hot/ceiling-proxy-hello']).toBeGreaterThan(0);
    expect(results.ratios['write-create/ceiling-pg-write']).toBeGreaterThan(0);
    expect(results.targets.map((t) => t.name)).toContain('creates');
    expect(existsSync(join(out, json!.replace(/\.json$/, '.html')))).toBe(true);
    expect(output).toContain('Ratios');
    // Everything it started is gone.
    expect(processesOfStacks(dir)).toEqual([]);
    expect(existsSync(join(dir, 'bench', 'stack', 'state.json'))).toBe(false);
  }, 300_000);
});
