// Runtime scaling of the native stack (src/scale.ts), on a whole stack of this file's own — nginx, the
// gateways, every service as a real process — on the fixed layout from TEST_BASE_PORTS.scaling, with a
// light steady load through nginx while replicas come and go: no request may fail, new replicas must
// serve (their own request counters say so), removed ones must be gone, and `status` must follow.
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StackState } from '../src/index.ts';
import {
  guardStack,
  isAlive,
  listReplicas,
  mintDevToken,
  processesOfStacks,
  readState,
  repoPath,
  ScaleError,
  scaleService,
  startStack,
  stopStack,
  TEST_BASE_PORTS,
  TEST_STACK_PREFIX,
  upstreamsFile,
  validateTargets,
  waitFor,
} from '../src/index.ts';

const exec = promisify(execFile);
const base = TEST_BASE_PORTS.scaling;
const HOST = '127.0.0.1';
// Bounds from measured costs with room for a machine 3–5× slower and busy: a stack start ≈40 s here
// (seven Node processes), a scale out ≈6–9 s (a replica's start), a scale in ≈1–3 s.
const STACK_START_MS = 15 * 60_000;
const TEST_MS = 6 * 60_000;
const SERVE_MS = 120_000;

let dir = '';
let state: StackState;
let token = '';
let taskId = '';

beforeAll(async () => {
  // Named like the harness's stacks, so the end-of-run leftover check covers this one too.
  dir = mkdtempSync(join(tmpdir(), `${TEST_STACK_PREFIX}scaling-`));
  guardStack(dir, process.pid, join(dir, 'watchdog.log'));
  state = await startStack({
    dir,
    ports: base,
    services: true,
    durability: 'fast',
    ownerPid: process.pid,
    // The test is about replicas coming and going: limits and load shedding (a busy host's event-loop
    // lag) must not answer 429/503 to its light load.
    edgeLimits: { rate: '2000r/s', burst: 4000, connections: 1024 },
    serviceEnv: { RATE_LIMIT_USER_MAX: '1000000', SHED_EVENT_LOOP_DELAY_MS: '0' },
  });
  token = await mintDevToken(dir, randomUUID());
  const created = await send('POST', '/v1/tasks', { title: 'scaling' });
  expect(created.status).toBe(201);
  taskId = (JSON.parse(created.body) as { id: string }).id;
}, STACK_START_MS);

afterAll(async () => {
  if (!dir) return;
  await stopStack(dir);
  rmSync(dir, { recursive: true, force: true });
});

/** One request through nginx (plain HTTP), on a connection of its own (see Load). */
function send(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: HOST,
        port: state.endpoints.nginx.httpPort,
        method,
        path,
        agent: false,
        timeout: 30_000,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer in 30 s')));
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

interface Load {
  ok: () => number;
  failures: string[];
  stop: () => Promise<void>;
}

/**
 * A light steady load through nginx: three clients, each a request at a time with a short pause —
 * reads of one task and of a page, and one create in five. Every request has a connection of its own:
 * an nginx reload closes idle keep-alive connections of the old workers, and a request racing that
 * close is a reset the client must retry (RFC 9110 §9.2.2) — not what this test is about.
 */
function startLoad(): Load {
  let ok = 0;
  let stopped = false;
  const failures: string[] = [];
  const client = async (c: number) => {
    for (let i = 0; !stopped; i++) {
      const [method, path, body, want] =
        i % 5 === 4
          ? ['POST', '/v1/tasks', { title: `load ${c}-${i}` }, 201]
          : i % 2 === 0
            ? ['GET', `/v1/tasks/${taskId}`, undefined, 200]
            : ['GET', '/v1/tasks?limit=5', undefined, 200];
      try {
        const res = await send(method as string, path as string, body);
        if (res.status === want) ok++;
        else failures.push(`${method} ${path}: ${res.status} ${res.body.slice(0, 200)}`);
      } catch (err) {
        failures.push(`${method} ${path}: ${(err as Error).message}`);
      }
      await sleep(30); // pacing, not waiting for anything
    }
  };
  const clients = [1, 2, 3].map(client);
  return {
    ok: () => ok,
    failures,
    stop: async () => {
      stopped = true;
      await Promise.all(clients);
    },
  };
}

/** Requests a replica has answered on the API (/v1/…), from its own /metrics. */
async function apiRequests(port: number): Promise<number> {
  const text = await (await fetch(`http://${HOST}:${port}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n'))
    if (line.startsWith('http_request_duration_seconds_count{') && line.includes('route="/v1/'))
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  return total;
}

/** Wait until each of `ports` has served `count` more API requests than it had (0 for a new one). */
async function waitServed(ports: number[], count = 5): Promise<void> {
  await waitFor(
    `replicas on ${ports.join(', ')} to serve requests`,
    async () => (await Promise.all(ports.map(apiRequests))).every((n) => n >= count),
    { timeoutMs: SERVE_MS, intervalMs: 250 },
  );
}

/** Run `scale` while the load runs; then no request may have failed, and some went through meanwhile. */
async function underLoad<T>(scale: () => Promise<T>): Promise<T> {
  const load = startLoad();
  try {
    await waitFor('the load to flow', () => load.ok() >= 10, { timeoutMs: SERVE_MS });
    const before = load.ok();
    const result = await scale();
    await waitFor('more requests after the scale', () => load.ok() >= before + 10, { timeoutMs: SERVE_MS });
    return result;
  } finally {
    await load.stop();
    expect(load.failures).toEqual([]);
  }
}

const cli = (...args: string[]) =>
  exec(
    process.execPath,
    ['--conditions=@taskfleet/source', repoPath('shared/infra/src/cli.ts'), ...args, '--dir', dir],
    { timeout: 300_000 },
  );

/** Exit code and stderr of a CLI call expected to fail. */
async function cliFails(...args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await cli(...args);
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
  throw new Error(`scale ${args.join(' ')} succeeded`);
}

interface Status {
  components: { name: string; kind: string; pid: number; address: string; alive: boolean }[];
}
const status = async () => JSON.parse((await cli('status', '--json')).stdout) as Status;
const serviceNames = async (service: string) =>
  (await status()).components
    .filter((c) => c.name.startsWith(`${service}-`))
    .map((c) => c.name)
    .sort();
const upstreamsListed = (service: 'tasks' | 'users') =>
  readFileSync(upstreamsFile(dir, service), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('http://'));
const nginxServers = () =>
  readFileSync(join(dir, 'nginx', 'conf', 'gateway-servers.conf'), 'utf8')
    .split('\n')
    .filter((l) => l.trim().startsWith('server '));

// One scenario in steps, each starting from where the one before left the stack (2 → 4 → 2 tasks, …).
describe('scaling the native stack at run time', () => {
  it('adds task replicas under load (tasks 2→4): ready before announced, then serving, nothing failed', {
    timeout: TEST_MS,
  }, async () => {
    const { stdout } = await underLoad(() => cli('scale', 'tasks=4'));
    expect(stdout).toContain('tasks: 2 → 4');
    const tasks = listReplicas(dir, 'tasks');
    // The fixed layout: replica k on base+100+k−1.
    expect(tasks.map((r) => [r.name, r.port, r.alive])).toEqual([
      ['tasks-1', base + 100, true],
      ['tasks-2', base + 101, true],
      ['tasks-3', base + 102, true],
      ['tasks-4', base + 103, true],
    ]);
    expect(upstreamsListed('tasks')).toHaveLength(4);
    expect(await serviceNames('tasks')).toEqual(['tasks-1', 'tasks-2', 'tasks-3', 'tasks-4']);
    expect((await status()).components.every((c) => c.alive)).toBe(true);
    // Prometheus scrapes them too (file discovery).
    const targets = readFileSync(join(dir, 'prometheus', 'targets', 'services', 'native.json'), 'utf8');
    expect(targets).toContain(`${HOST}:${base + 103}`);
    // The new replicas take their share of a load (the gateways balance over all four).
    await underLoad(() => waitServed([base + 102, base + 103]));
  });

  it('removes task replicas under load (tasks 4→2): withdrawn, drained, exited; nothing failed', {
    timeout: TEST_MS,
  }, async () => {
    const leaving = listReplicas(dir, 'tasks').filter((r) => r.index > 2);
    expect(leaving).toHaveLength(2);
    const result = await underLoad(() => scaleService(dir, 'tasks', 2));
    expect(result).toMatchObject({ from: 4, to: 2, stopped: ['tasks-4', 'tasks-3'], warnings: [] });
    for (const r of leaving) expect(isAlive(r.pid), r.name).toBe(false);
    expect(listReplicas(dir, 'tasks').map((r) => r.name)).toEqual(['tasks-1', 'tasks-2']);
    expect(upstreamsListed('tasks')).toEqual([
      `http://${HOST}:${base + 100}`,
      `http://${HOST}:${base + 101}`,
    ]);
    expect(await serviceNames('tasks')).toEqual(['tasks-1', 'tasks-2']);
    expect(readState(dir)!.endpoints.services!.filter((r) => r.service === 'tasks')).toHaveLength(2);
  });

  it('adds and removes a gateway under load (2→3→2): nginx follows, nothing failed', {
    timeout: TEST_MS,
  }, async () => {
    const out = await underLoad(() => scaleService(dir, 'gateway', 3));
    expect(out).toMatchObject({ from: 2, to: 3, started: ['gateway-3'], warnings: [] });
    expect(nginxServers()).toHaveLength(3);
    const added = listReplicas(dir, 'gateway').find((r) => r.index === 3)!;
    expect(added.port).toBe(base + 132);
    // nginx balances over it.
    await underLoad(() => waitServed([added.port]));

    const back = await underLoad(() => scaleService(dir, 'gateway', 2));
    expect(back).toMatchObject({ from: 3, to: 2, stopped: ['gateway-3'], warnings: [] });
    expect(isAlive(added.pid)).toBe(false);
    expect(nginxServers().join('\n')).not.toContain(`:${base + 132} `);
    expect(await serviceNames('gateway')).toEqual(['gateway-1', 'gateway-2']);
  });

  it('refuses bad input with exit 2 and a clear message, touching nothing', {
    timeout: TEST_MS,
  }, async () => {
    const before = readFileSync(join(dir, 'state.json'), 'utf8');
    for (const [args, message] of [
      [['nginx=2'], /nginx: not a scalable service/],
      [['tasks=0'], /tasks=0: the count must be a whole number from 1 to 8/],
      [['tasks=9'], /tasks=9: the count must be a whole number from 1 to 8/],
      [['tasks=two'], /tasks=two: the count must be/],
      [['gateway=1.5'], /gateway=1.5: the count must be/],
      [['tasks=3', 'tasks=4'], /tasks: given twice/],
      [['tasks'], /"tasks": expected service=N/],
      [[], /nothing to scale/],
    ] as const) {
      const { code, stderr } = await cliFails('scale', ...args);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr).toMatch(message);
    }
    expect(readFileSync(join(dir, 'state.json'), 'utf8')).toBe(before);
    expect(() => validateTargets({ worker: -1 })).toThrow(ScaleError);
    // A folder with no stack: exit 1, saying so.
    const empty = mkdtempSync(join(tmpdir(), 'taskfleet-noscale-'));
    try {
      const e = await exec(process.execPath, [
        '--conditions=@taskfleet/source',
        repoPath('shared/infra/src/cli.ts'),
        'scale',
        'tasks=2',
        '--dir',
        empty,
      ]).catch((err: { code: number; stderr: string }) => err);
      expect(e).toMatchObject({ code: 1, stderr: expect.stringMatching(/no stack with services running/) });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('runs one scale at a time: a live lock refuses (75), a dead holder’s is taken over, a race ends consistent', {
    timeout: TEST_MS,
  }, async () => {
    const lock = join(dir, 'scale.lock');
    // Held by a live process (this one): refused, and the lock is left alone.
    writeFileSync(lock, JSON.stringify({ pid: process.pid, startTicks: 0, since: 'now' }));
    const busy = await cliFails('scale', 'tasks=2');
    expect(busy.code).toBe(75);
    expect(busy.stderr).toMatch(/another scale of this stack is running/);
    // Held by a process that died mid-scale: taken over, and released after.
    const gone = spawn('true');
    await new Promise((resolve) => gone.once('exit', resolve));
    await waitFor('the dead holder to be reaped', () => !isAlive(gone.pid!), { timeoutMs: 10_000 });
    writeFileSync(lock, JSON.stringify({ pid: gone.pid, startTicks: 0, since: 'earlier' }));
    expect((await cli('scale', 'tasks=2')).stdout).toContain('tasks: 2 → 2');
    expect(() => readFileSync(lock)).toThrow(/ENOENT/);

    // Two scales at once: one runs and the other is refused (75), or — if the first had finished —
    // the second finds nothing to do. Either way exactly three replicas, on distinct ports, all serving.
    const outcomes = await Promise.all(
      [1, 2].map(() =>
        cli('scale', 'tasks=3').then(
          () => 0,
          (err: { code: number }) => err.code,
        ),
      ),
    );
    expect(['0,0', '0,75']).toContain(outcomes.sort((a, b) => a - b).join());
    const tasks = listReplicas(dir, 'tasks');
    expect(tasks.map((r) => [r.name, r.port, r.alive])).toEqual([
      ['tasks-1', base + 100, true],
      ['tasks-2', base + 101, true],
      ['tasks-3', base + 102, true],
    ]);
    expect(upstreamsListed('tasks')).toHaveLength(3);
  });

  it('leaves nothing behind: down stops the replicas a scale added', { timeout: TEST_MS }, async () => {
    const pids = readState(dir)!.components.map((c) => c.pid);
    expect(listReplicas(dir, 'tasks')).toHaveLength(3);
    await stopStack(dir);
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    await waitFor('every child process to exit', () => processesOfStacks(dir).length === 0, {
      timeoutMs: 30_000,
    });
  });
});
