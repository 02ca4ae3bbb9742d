// `make up` / `make status` / `make down` exactly as a user runs them (native runtime), in a scratch
// directory on free ports — the autoscaler `make up` runs included, live: it holds tasks and gateway
// within its bounds through the stack runner's scaling — and the watchdog that reaps a stack whose
// owner died.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import {
  guardStack,
  httpsJson,
  isAlive,
  listReplicas,
  NATIVE_AUTOSCALER_MAX,
  nginxFiles,
  processesOfStacks,
  REPO_ROOT,
  readState,
  repoPath,
  stopStack,
  TEST_BASE_PORTS,
  TEST_STACK_PREFIX,
  upstreamsFile,
  waitFor,
} from '../src/index.ts';

const exec = promisify(execFile);
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) {
    await stopStack(dir);
    rmSync(dir, { recursive: true, force: true });
  }
});

function scratchDir(): string {
  // Named like the harness's stacks, so the end-of-run leftover check covers these too.
  const dir = mkdtempSync(join(tmpdir(), `${TEST_STACK_PREFIX}lifecycle-`));
  dirs.push(dir);
  // If this run is interrupted before afterAll, the stack `make up` starts here must still go.
  guardStack(dir, process.pid, join(dir, 'watchdog.log'));
  return dir;
}

// Each test runs whole `make up` / `make down` cycles: ≈20 s here (2 cores), several times that on a
// machine 3–5× slower and busy. Bounds with a wide margin over that, so only a hung run fails.
const MAKE_TIMEOUT_MS = 300_000;
const TEST_TIMEOUT_MS = 600_000;
// The first test also waits for the autoscaler to act: a pass every 15 s, then a replica's start
// (≈6–9 s here) or withdrawal; bounded for a machine 3–5× slower and busy.
const AUTOSCALER_ACTS_MS = 240_000;
const TWO_PASSES_MS = 120_000;
const FIRST_TEST_TIMEOUT_MS = TEST_TIMEOUT_MS + AUTOSCALER_ACTS_MS + TWO_PASSES_MS;

async function make(target: string, dir: string, base: number, args = ''): Promise<string> {
  const { stdout } = await exec('make', ['--no-print-directory', target, 'RUNTIME=native', `ARGS=${args}`], {
    cwd: REPO_ROOT,
    env: { ...process.env, TASKFLEET_STACK_DIR: dir, TASKFLEET_BASE_PORT: String(base) },
    timeout: MAKE_TIMEOUT_MS,
  });
  return stdout;
}

interface Status {
  components: { name: string; kind: string; pid: number; address: string; alive: boolean }[];
}

describe('make up / status / down (native stack)', () => {
  it('brings the infrastructure up with its autoscaler, is harmless twice, and down leaves no process behind', {
    timeout: FIRST_TEST_TIMEOUT_MS,
  }, async () => {
    const dir = scratchDir();
    const base = TEST_BASE_PORTS.lifecycle;
    await make('up', dir, base);

    const status = JSON.parse(await make('status', dir, base, '--json')) as Status;
    expect(status.components.map((c) => c.name).sort()).toEqual([
      'alertmanager',
      'autoscaler',
      'blackbox-exporter',
      'epmd',
      'gateway-1',
      'gateway-2',
      'nginx',
      'nginx-exporter',
      'node-exporter',
      'pgbouncer',
      'pgbouncer-exporter',
      'postgres-exporter-primary',
      'postgres-exporter-replica1',
      'postgres-exporter-replica2',
      'postgres-primary',
      'postgres-replica1',
      'postgres-replica2',
      'prometheus',
      'rabbitmq',
      'redis',
      'redis-exporter',
      'tasks-1',
      'tasks-2',
      'users-1',
      'users-2',
      'worker-1',
    ]);
    expect(status.components.every((c) => c.alive)).toBe(true);
    expect(status.components.find((c) => c.name === 'pgbouncer')?.address).toBe(`127.0.0.1:${base + 10}`);
    // The exporters on the fixed layout (docs/native-stack.md), the blackbox one last.
    expect(status.components.find((c) => c.name === 'postgres-exporter-primary')?.address).toBe(
      `127.0.0.1:${base + 70}`,
    );
    expect(status.components.find((c) => c.name === 'blackbox-exporter')?.address).toBe(
      `127.0.0.1:${base + 77}`,
    );
    // The autoscaler on base+80, and `make up` waited until it was ready (a pass completed).
    expect(status.components.find((c) => c.name === 'autoscaler')).toMatchObject({
      kind: 'autoscaler',
      address: `127.0.0.1:${base + 80}`,
    });
    expect((await fetch(`http://127.0.0.1:${base + 80}/health/ready`)).status).toBe(200);
    // The probe account's password: in the stack dir, readable by its owner only.
    expect(statSync(join(dir, 'blackbox', 'probe-secret')).mode & 0o777).toBe(0o600);
    const edgeHealth = await fetch(`http://127.0.0.1:${base + 50}/nginx-health`);
    expect(edgeHealth.status).toBe(200);

    // The task service runs twice, migrated, behind the stack's PgBouncer: a task written through one
    // replica is read back through the other, with a development token from `taskfleet-stack token`.
    const { stdout: token } = await exec(process.execPath, [
      '--conditions=@taskfleet/source',
      repoPath('shared/infra/src/cli.ts'),
      'token',
      '--dir',
      dir,
    ]);
    const auth = { authorization: `Bearer ${token.trim()}`, 'content-type': 'application/json' };
    const created = await fetch(`http://127.0.0.1:${base + 100}/v1/tasks`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ title: 'native' }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const read = await fetch(`http://127.0.0.1:${base + 101}/v1/tasks/${id}`, { headers: auth });
    expect(read.status).toBe(200);
    // The whole request path: nginx → gateway → users/tasks. A real account, a real login, a task.
    // Over HTTPS, verified against the stack's own (self-signed) certificate.
    const ca = readFileSync(join(dir, 'nginx', 'tls', 'tls.crt'));
    const edge = (method: string, path: string, body?: unknown, token?: string) =>
      httpsJson(`https://localhost:${base + 51}${path}`, { method, body, token, ca });
    const account = { email: `native-${Date.now()}@example.test`, password: 'correct horse battery staple' };
    expect((await edge('POST', '/v1/auth/register', account)).status).toBe(201);
    const login = await edge('POST', '/v1/auth/login', account);
    expect(login.status).toBe(200);
    const { accessToken } = login.json as { accessToken: string };
    const mine = await edge('POST', '/v1/tasks', { title: 'after a real login' }, accessToken);
    expect(mine.status).toBe(201);
    expect(mine.headers['strict-transport-security']).toMatch(/max-age=/);
    // Plain HTTP serves the same API (for local tools); /metrics never leaves through the edge.
    expect((await fetch(`http://127.0.0.1:${base + 50}/v1/tasks`)).status).toBe(401);
    expect((await fetch(`http://127.0.0.1:${base + 50}/metrics`)).status).toBe(404);

    // The worker relays the write's event: the outbox drains.
    await waitFor(
      'the worker to publish the event',
      async () => {
        const text = await (await fetch(`http://127.0.0.1:${base + 110}/metrics`)).text();
        return /^outbox_published_total [1-9]/m.test(text) && /^outbox_backlog 0$/m.test(text);
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    // Prometheus scrapes both task replicas, the worker and the autoscaler.
    const up = async (job: string) => {
      const q = await fetch(
        `http://127.0.0.1:${base + 60}/api/v1/query?query=${encodeURIComponent(`sum(up{job="${job}"})`)}`,
      );
      const body = (await q.json()) as { data: { result: { value: [number, string] }[] } };
      return body.data.result[0]?.value[1];
    };
    await waitFor(
      'prometheus to scrape every service replica and the autoscaler',
      async () =>
        (await up('tasks')) === '2' &&
        (await up('users')) === '2' &&
        (await up('gateway')) === '2' &&
        (await up('worker')) === '1' &&
        (await up('autoscaler')) === '1',
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    // It manages tasks and gateway, live, within [2, 4].
    const scalerMetrics = async () => (await fetch(`http://127.0.0.1:${base + 80}/metrics`)).text();
    const first = await scalerMetrics();
    for (const service of ['tasks', 'gateway']) {
      expect(first).toContain(`autoscaler_replicas{service="${service}",kind="min"} 2`);
      expect(first).toContain(
        `autoscaler_replicas{service="${service}",kind="max"} ${NATIVE_AUTOSCALER_MAX}`,
      );
      expect(first).toMatch(
        new RegExp(`^autoscaler_decisions_total\\{service="${service}",.*dry_run="false"\\} [1-9]`, 'm'),
      );
    }
    expect(first).toMatch(/^autoscaler_managed_services 2$/m);

    // Up again: same processes, nothing new started.
    await make('up', dir, base);
    const again = JSON.parse(await make('status', dir, base, '--json')) as Status;
    expect(again.components.map((c) => c.pid).sort()).toEqual(status.components.map((c) => c.pid).sort());

    // Outside its bounds by hand: the autoscaler brings both back at once (below-minimum and
    // above-maximum come before any load, cooldown or adoption), through the stack runner's scaling —
    // the gateways' upstreams file and nginx's list follow, and Prometheus's targets.
    await make('scale', dir, base, 'tasks=1 gateway=5');
    const counts = () => ({
      tasks: listReplicas(dir, 'tasks').length,
      gateway: listReplicas(dir, 'gateway').length,
    });
    // Its decisions that changed a count, as its metrics list them.
    const changes = (text: string) =>
      text.split('\n').filter((l) => /^autoscaler_decisions_total\{.*action="(up|down)"/.test(l));
    await waitFor(
      'the autoscaler to bring tasks up to 2 and the gateways down to 4',
      async () => {
        const { tasks, gateway } = counts();
        return (
          tasks === 2 &&
          gateway === NATIVE_AUTOSCALER_MAX &&
          changes(await scalerMetrics()).length >= 2 &&
          (await up('tasks')) === '2'
        );
      },
      { timeoutMs: AUTOSCALER_ACTS_MS, intervalMs: 1_000 },
    );
    expect(listReplicas(dir, 'tasks').every((r) => r.alive)).toBe(true);
    expect(readFileSync(upstreamsFile(dir, 'tasks'), 'utf8').match(/^http:/gm)).toHaveLength(2);
    const servers = readFileSync(nginxFiles(join(dir, 'nginx')).serversFile, 'utf8');
    expect(servers.match(/^\s*server /gm)).toHaveLength(NATIVE_AUTOSCALER_MAX);
    // Exactly these two changes, once each.
    const acted = await scalerMetrics();
    expect(changes(acted).sort()).toEqual([
      'autoscaler_decisions_total{service="gateway",action="down",reason="above-maximum",dry_run="false"} 1',
      'autoscaler_decisions_total{service="tasks",action="up",reason="below-minimum",dry_run="false"} 1',
    ]);
    expect(acted).not.toMatch(/^autoscaler_scale_errors_total\{/m);
    await waitFor('prometheus to follow the gateways', async () => (await up('gateway')) === '4', {
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    // The edge still answers through the gateways it now has.
    expect((await fetch(`http://127.0.0.1:${base + 50}/v1/tasks`)).status).toBe(401);
    // And holds them there: a whole pass after the one that acted changes no count (its own counts,
    // in the cooldown). (`acted` may have been read just before that pass was counted: two more.)
    const passes = (text: string) =>
      Number(/^autoscaler_passes_total\{outcome="ok"\} (\d+)$/m.exec(text)?.[1]);
    const passesThen = passes(acted);
    await waitFor(
      'another pass of the autoscaler',
      async () => passes(await scalerMetrics()) >= passesThen + 2,
      {
        timeoutMs: TWO_PASSES_MS,
        intervalMs: 1_000,
      },
    );
    expect(counts()).toEqual({ tasks: 2, gateway: NATIVE_AUTOSCALER_MAX });
    expect(changes(await scalerMetrics())).toEqual(changes(acted));

    const running = JSON.parse(await make('status', dir, base, '--json')) as Status;
    expect(running.components.every((c) => c.alive)).toBe(true);
    const before = processesOfStacks(dir);
    expect(before.length).toBeGreaterThan(running.components.length); // children too: backends, workers, beam

    await make('down', dir, base);
    expect(readState(dir)).toBeUndefined();
    // (The replicas scaled away earlier were awaited gone by the scales themselves.)
    for (const c of running.components) expect(isAlive(c.pid), c.name).toBe(false);
    await waitFor('every child process to exit', () => processesOfStacks(dir).length === 0, {
      timeoutMs: 10_000,
    });
    // Data is kept for the next `make up`.
    expect(existsSync(join(dir, 'pg', 'primary', 'PG_VERSION'))).toBe(true);
  });
});

describe('watchdog', () => {
  it('stops the stack when its owner dies without tearing it down', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const dir = scratchDir();
    const base = TEST_BASE_PORTS.watchdog;
    // Stand-in for a test runner that gets killed with -9.
    const owner = spawn('sleep', ['300'], { stdio: 'ignore' });
    await make('up', dir, base);
    const watchdog = spawn(
      process.execPath,
      ['--conditions=@taskfleet/source', repoPath('shared/infra/src/watchdog.ts'), String(owner.pid), dir],
      {
        stdio: 'ignore',
      },
    );
    const pids = readState(dir)!.components.map((c) => c.pid);
    expect(pids.every((p) => isAlive(p))).toBe(true);

    owner.kill('SIGKILL');
    await waitFor('the watchdog to stop the stack', () => processesOfStacks(dir).length === 0, {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    expect(pids.some((p) => isAlive(p))).toBe(false);
    await waitFor('the watchdog to exit', () => watchdog.exitCode !== null, { timeoutMs: 10_000 });
    expect(existsSync(dir)).toBe(false);
  });
});
