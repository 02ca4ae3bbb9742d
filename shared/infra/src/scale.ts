// Runtime scaling of the native stack's services — the mechanism; when and how far is the autoscaler's
// policy (services/autoscaler). `taskfleet-stack scale tasks=4 gateway=3` and `make scale` call it; so
// may a program:
//
//   listReplicas(dir: string, service: ScalableService): Replica[]
//       the recorded replicas of one service, lowest index first, each with its address and whether its
//       process is alive. (state.json's endpoints.services lists the announced ones — what serves.)
//   scaleService(dir: string, service: ScalableService, replicas: number, opts?: ScaleOptions): Promise<ScaleResult>
//   scaleStack(dir: string, targets: ScaleTargets, opts?: ScaleOptions): Promise<ScaleResult[]>
//       set the count(s); resolves when the stack runs exactly that many, each in use (or, after a scale
//       down, stopped). Throws ScaleError: .exitCode 2 for bad input, 75 while another scale runs on the
//       same stack (try again later), 1 for anything else (the stack is left consistent: a replica that
//       failed to start is stopped and forgotten; one withdrawn is stopped).
//
// Scaling out, per new replica k of a service: start it on its port (base + offset + k − 1 in the fixed
// layout, a free port in a test stack's), with the environment every replica got at `up` (kept in
// services/env.json), wait until /health/ready answers 200, and only then announce it: the upstreams
// file the gateways read (tasks, users), nginx's upstream servers + a graceful reload (gateway),
// Prometheus's targets — then wait until every gateway lists it (its metrics say so).
// Scaling in removes the highest indexes, never below 1, in the reverse order: withdrawn from discovery
// first — out of the upstreams file and confirmed out of every gateway (each re-reads the file every
// second, closing the replica's pool once its in-flight requests end); for a gateway, out of nginx and
// reloaded, the old nginx workers gone — then SIGTERM (readiness 503, in-flight requests finish, close:
// ADR 0011), then its exit awaited; then it is forgotten in state.json (`status` and `down` follow it).
//
// One scale at a time per stack: scale.lock in the stack dir names the process holding it; another
// scale is refused (75) rather than queued, and a lock whose holder died is taken over.
// Which services: tasks, users and gateway are balanced by the gateways/nginx and follow their lists;
// the worker is scalable too — any number may run (SKIP LOCKED relay, one shared quorum queue, each
// maintenance step safe concurrently: services/worker/src/app.ts) and nothing routes to it.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nginxFiles, reloadNginx, writeGatewayServers } from './components/nginx.ts';
import { writeServiceTargets } from './components/prometheus.ts';
import type { ServiceName, ServiceReplica } from './components/services.ts';
import {
  loadServiceEnv,
  MAX_REPLICAS,
  replicaName,
  replicaPort,
  SERVICES,
  serviceEntry,
  startServiceReplica,
  writeUpstreamsFile,
} from './components/services.ts';
import type { StartContext } from './context.ts';
import { writeFileAtomic } from './files.ts';
import { freePorts, isPortFree } from './ports.ts';
import { allSettledOrThrow, isAlive, startTicksOf, stopProcess, waitFor } from './proc.ts';
import type { ComponentRecord, StackState } from './state.ts';
import { readState, writeState } from './state.ts';

export type ScalableService = ServiceName;
export const SCALABLE_SERVICES: readonly ScalableService[] = SERVICES;
export { MAX_REPLICAS };
export type ScaleTargets = Partial<Record<ScalableService, number>>;

export interface Replica {
  service: ScalableService;
  index: number;
  /** `tasks-3` */
  name: string;
  host: string;
  port: number;
  /** `http://127.0.0.1:21102` */
  url: string;
  pid: number;
  alive: boolean;
}

export interface ScaleOptions {
  onProgress?: (message: string) => void;
  /** How long a new replica may take to turn ready (default 2 minutes: a slow, busy host). */
  readyTimeoutMs?: number;
  /** How long to wait for the gateways (and nginx's old workers) to let go of a withdrawn replica. */
  withdrawTimeoutMs?: number;
}

export interface ScaleResult {
  service: ScalableService;
  from: number;
  to: number;
  started: string[];
  stopped: string[];
  /** What could not be confirmed (a gateway that did not answer, nginx workers that outlived the bound). */
  warnings: string[];
}

export class ScaleError extends Error {
  override name = 'ScaleError';
  readonly exitCode: 1 | 2 | 75;
  constructor(message: string, exitCode: 1 | 2 | 75 = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

const isScalable = (s: string): s is ScalableService => (SCALABLE_SERVICES as readonly string[]).includes(s);

/** Check a request before anything is touched: known scalable services, whole counts in [1, MAX_REPLICAS]. */
export function validateTargets(targets: Record<string, unknown>): ScaleTargets {
  const problems: string[] = [];
  for (const [service, n] of Object.entries(targets)) {
    if (!isScalable(service)) {
      problems.push(
        `${service}: not a scalable service (scalable: ${SCALABLE_SERVICES.join(', ')}; the servers are not)`,
      );
    } else if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_REPLICAS) {
      problems.push(`${service}=${String(n)}: the count must be a whole number from 1 to ${MAX_REPLICAS}`);
    }
  }
  if (Object.keys(targets).length === 0) problems.push('nothing to scale: give service=N (e.g. tasks=4)');
  if (problems.length) throw new ScaleError(problems.join('\n'), 2);
  return targets as ScaleTargets;
}

/** `['tasks=4', 'gateway=3']` → `{ tasks: 4, gateway: 3 }`; bad words throw ScaleError (exit code 2). */
export function parseScaleArgs(args: readonly string[]): ScaleTargets {
  const targets: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const arg of args) {
    const m = /^([a-z][\w-]*)=(.*)$/.exec(arg);
    if (!m) problems.push(`"${arg}": expected service=N (e.g. tasks=4)`);
    else if (m[1]! in targets) problems.push(`${m[1]}: given twice`);
    else targets[m[1]!] = /^\d+$/.test(m[2]!) ? Number(m[2]) : m[2];
  }
  if (problems.length) throw new ScaleError(problems.join('\n'), 2);
  return validateTargets(targets);
}

const replicaPattern = /^(.+)-(\d+)$/;

export function listReplicas(dir: string, service: ScalableService): Replica[] {
  const state = readState(dir);
  return (state?.components ?? [])
    .filter((c) => c.kind === 'service' && replicaPattern.exec(c.name)?.[1] === service)
    .map((c) => {
      const index = Number(replicaPattern.exec(c.name)![2]);
      const [host, port] = [
        c.address.slice(0, c.address.lastIndexOf(':')),
        Number(c.address.split(':').pop()),
      ];
      return {
        service,
        index,
        name: c.name,
        host,
        port,
        url: `http://${host}:${port}`,
        pid: c.pid,
        alive: isAlive(c.pid, c.startTicks),
      };
    })
    .sort((a, b) => a.index - b.index);
}

export async function scaleService(
  dir: string,
  service: ScalableService,
  replicas: number,
  opts: ScaleOptions = {},
): Promise<ScaleResult> {
  const [result] = await scaleStack(dir, { [service]: replicas }, opts);
  return result!;
}

export async function scaleStack(
  dir: string,
  targets: ScaleTargets,
  opts: ScaleOptions = {},
): Promise<ScaleResult[]> {
  validateTargets(targets);
  const release = acquireLock(dir);
  try {
    const state = readState(dir);
    if (!state?.endpoints.services?.length) throw new ScaleError(`no stack with services running in ${dir}`);
    const env = loadServiceEnv(dir);
    if (!env)
      throw new ScaleError(
        `the stack in ${dir} was started before it could scale (no services/env.json): make down, then make up`,
      );
    const results: ScaleResult[] = [];
    // The backends before the gateways: a new gateway starts with the new list, a removed one goes last.
    for (const service of SCALABLE_SERVICES) {
      const n = targets[service];
      if (n !== undefined) results.push(await scaleOne(dir, service, n, env, opts));
    }
    return results;
  } finally {
    release();
  }
}

// --- one service ------------------------------------------------------------------------------------

async function scaleOne(
  dir: string,
  service: ScalableService,
  n: number,
  env: Record<string, string>,
  opts: ScaleOptions,
): Promise<ScaleResult> {
  const progress = opts.onProgress ?? (() => {});
  const current = listReplicas(dir, service);
  const result: ScaleResult = {
    service,
    from: current.length,
    to: n,
    started: [],
    stopped: [],
    warnings: [],
  };
  if (n > current.length) await scaleOut(dir, service, n - current.length, current, env, opts, result);
  else if (n < current.length) await scaleIn(dir, service, current.slice(n).reverse(), env, opts, result);
  else progress(`${service}: already ${n}`);
  return result;
}

async function scaleOut(
  dir: string,
  service: ScalableService,
  count: number,
  current: Replica[],
  env: Record<string, string>,
  opts: ScaleOptions,
  result: ScaleResult,
): Promise<void> {
  const progress = opts.onProgress ?? (() => {});
  const state = mustReadState(dir);
  const host = current[0]?.host ?? '127.0.0.1';
  const taken = new Set(current.map((r) => r.index));
  const indexes: number[] = [];
  for (let k = 1; indexes.length < count && k <= MAX_REPLICAS; k++) if (!taken.has(k)) indexes.push(k);
  const ports =
    state.basePort === undefined
      ? await freePorts(indexes.length)
      : indexes.map((k) => replicaPort(state.basePort!, service, k));
  const fresh: ServiceReplica[] = indexes.map((index, i) => ({ service, index, host, port: ports[i]! }));
  for (const r of fresh)
    if (!(await isPortFree(r.port, r.host)))
      throw new ScaleError(`port ${r.port} for ${replicaName(r)} is in use by another process`);

  const ctx: StartContext = {
    dir,
    logsDir: join(dir, 'logs'),
    serverUser: undefined, // service replicas run as the caller, as at `up`
    durability: 'full',
    // Recorded the moment it is launched: `down` finds it even if this scale dies half-way. If `down`
    // ran meanwhile (no state any more), the new process goes at once: nothing would ever stop it.
    record: (component) => {
      try {
        updateState(dir, (s) => s.components.push(component));
      } catch (err) {
        process.kill(component.pid, 'SIGKILL');
        throw err;
      }
    },
    progress,
  };
  progress(`${service}: starting ${fresh.map(replicaName).join(', ')}`);
  try {
    await allSettledOrThrow(
      fresh.map((r) =>
        startServiceReplica(ctx, r, serviceEntry(service), env, { readyTimeoutMs: opts.readyTimeoutMs }),
      ),
    );
  } catch (err) {
    // Nothing was announced: stop every one of them and forget them.
    await stopAndForget(dir, fresh.map(replicaName));
    throw new ScaleError(`${service}: a new replica did not start: ${(err as Error).message}`);
  }
  result.started = fresh.map(replicaName);

  // Ready: announce them all at once.
  const names = new Set(result.started);
  updateState(dir, (s) => {
    s.endpoints.services = [...(s.endpoints.services ?? []), ...fresh];
  });
  try {
    await publish(dir, service, { removed: [], opts, result });
  } catch (err) {
    // Not taken up (nginx refused the list): out of every list again, then stopped.
    updateState(dir, (s) => {
      s.endpoints.services = (s.endpoints.services ?? []).filter((r) => !names.has(replicaName(r)));
    });
    const state = mustReadState(dir);
    writePrometheusTargets(state);
    if (service === 'tasks' || service === 'users')
      writeUpstreamsFile(
        dir,
        service,
        (state.endpoints.services ?? []).filter((r) => r.service === service),
      );
    await stopAndForget(dir, result.started);
    result.started = [];
    throw err;
  }
  progress(`${service}: ${result.from} → ${result.to}, ${result.started.join(', ')} in use`);
}

async function scaleIn(
  dir: string,
  service: ScalableService,
  leaving: Replica[],
  env: Record<string, string>,
  opts: ScaleOptions,
  result: ScaleResult,
): Promise<void> {
  const progress = opts.onProgress ?? (() => {});
  const names = new Set(leaving.map((r) => r.name));
  progress(`${service}: withdrawing ${[...names].join(', ')}`);
  updateState(dir, (s) => {
    s.endpoints.services = (s.endpoints.services ?? []).filter((r) => !names.has(replicaName(r)));
  });
  await publish(dir, service, { removed: leaving, opts, result });
  // Out of every list: now it may drain and go.
  const drainMs = Number(env.SHUTDOWN_DRAIN_MS) || 0;
  await stopAndForget(dir, [...names], drainMs);
  result.stopped = [...names];
  progress(`${service}: ${result.from} → ${result.to}, ${result.stopped.join(', ')} stopped`);
}

// --- discovery --------------------------------------------------------------------------------------

/**
 * Bring every list that names `service`'s replicas in line with state.json's endpoints.services, and
 * wait until its readers follow: the gateways for tasks and users, nginx for the gateways.
 */
async function publish(
  dir: string,
  service: ScalableService,
  how: { removed: readonly Replica[]; opts: ScaleOptions; result: ScaleResult },
): Promise<void> {
  const state = mustReadState(dir);
  const announced = (state.endpoints.services ?? []).filter((r) => r.service === service);
  const timeoutMs = how.opts.withdrawTimeoutMs ?? 60_000;
  const warn = (m: string) => {
    how.result.warnings.push(m);
    (how.opts.onProgress ?? (() => {}))(`warning: ${m}`);
  };
  // Prometheus first on the way out, last on the way in: no scrape of a replica that is stopping.
  if (how.removed.length) writePrometheusTargets(state);
  if (service === 'tasks' || service === 'users') {
    writeUpstreamsFile(dir, service, announced);
    const addresses = how.removed.length
      ? how.removed.map((r) => `${r.host}:${r.port}`)
      : announced.map((r) => `${r.host}:${r.port}`);
    const missing = await gatewaysFollow(
      state,
      service,
      addresses,
      how.removed.length ? 'absent' : 'present',
      timeoutMs,
    );
    for (const m of missing) warn(m);
  } else if (service === 'gateway') {
    const nginx = state.components.find((c) => c.kind === 'nginx');
    const files = nginxFiles(join(dir, 'nginx'), join(dir, 'logs'));
    const previous = readFileSync(files.serversFile, 'utf8');
    writeGatewayServers(files.serversFile, announced);
    if (!nginx || !isAlive(nginx.pid, nginx.startTicks)) {
      warn('nginx is not running: its upstream list is written, to be read when it starts');
    } else {
      try {
        const { drained } = await reloadNginx(nginx, files.args, {
          drain: how.removed.length > 0,
          timeoutMs,
        });
        if (how.removed.length && !drained)
          warn(
            `nginx's old workers still served after ${timeoutMs} ms (a slow client): stopping the gateway anyway`,
          );
      } catch (err) {
        writeFileAtomic(files.serversFile, previous); // the running config stays; so does the file
        throw new ScaleError(`nginx did not take the new gateway list: ${(err as Error).message}`);
      }
    }
  }
  if (!how.removed.length) writePrometheusTargets(state);
}

function writePrometheusTargets(state: StackState): void {
  writeServiceTargets(
    join(state.dir, 'prometheus'),
    (state.endpoints.services ?? []).map((r) => ({ job: r.service, host: r.host, port: r.port })),
  );
}

/**
 * Wait until every live gateway lists each of `addresses` among `service`'s upstreams ('present') or
 * none of them ('absent'), from its gateway_circuit_breaker_state series (one per member it balances
 * over). Returns what could not be confirmed within the bound; a gateway that is not running is skipped.
 */
async function gatewaysFollow(
  state: StackState,
  service: 'tasks' | 'users',
  addresses: readonly string[],
  want: 'present' | 'absent',
  timeoutMs: number,
): Promise<string[]> {
  const gateways = (state.endpoints.services ?? [])
    .filter((r) => r.service === 'gateway')
    .filter((r) => {
      const c = state.components.find((x) => x.name === replicaName(r));
      return c && isAlive(c.pid, c.startTicks);
    });
  const pending = new Set(gateways.map(replicaName));
  const check = async (g: (typeof gateways)[number]) => {
    const res = await fetch(`http://${g.host}:${g.port}/metrics`, { signal: AbortSignal.timeout(2_000) });
    if (!res.ok) return;
    const listed = upstreamsListed(await res.text(), service);
    if (addresses.every((a) => listed.has(a) === (want === 'present'))) pending.delete(replicaName(g));
  };
  try {
    await waitFor(
      `the gateways to ${want === 'present' ? 'take up' : 'let go of'} ${addresses.join(', ')}`,
      async () => {
        await Promise.allSettled(gateways.filter((g) => pending.has(replicaName(g))).map(check));
        return pending.size === 0;
      },
      { timeoutMs, intervalMs: 200 },
    );
    return [];
  } catch {
    return [...pending].map(
      (g) =>
        `${g} did not confirm within ${timeoutMs} ms that ${addresses.join(', ')} ${want === 'present' ? 'joined' : 'left'} ${service}`,
    );
  }
}

/** The `host:port` of every member of `service` in a gateway's /metrics text. */
export function upstreamsListed(metrics: string, service: string): Set<string> {
  const listed = new Set<string>();
  for (const line of metrics.split('\n')) {
    if (!line.startsWith('gateway_circuit_breaker_state{')) continue;
    const labels = line.slice(line.indexOf('{') + 1, line.lastIndexOf('}'));
    const get = (name: string) => new RegExp(`(?:^|,)${name}="([^"]*)"`).exec(labels)?.[1];
    if (get('service') === service) {
      const upstream = get('upstream');
      if (upstream) listed.add(upstream);
    }
  }
  return listed;
}

// --- processes and state ----------------------------------------------------------------------------

/** SIGTERM each named replica (in parallel), wait for it to exit, and drop it from state.json. */
async function stopAndForget(dir: string, names: readonly string[], drainMs = 0): Promise<void> {
  const components = mustReadState(dir).components.filter((c) => names.includes(c.name));
  await Promise.all(
    components.map((c: ComponentRecord) =>
      stopProcess(c, { ...c.stop, graceMs: Math.max(c.stop.graceMs, drainMs + 15_000) }),
    ),
  );
  updateState(dir, (s) => {
    s.components = s.components.filter((c) => !names.includes(c.name));
    s.endpoints.services = (s.endpoints.services ?? []).filter((r) => !names.includes(replicaName(r)));
  });
}

function mustReadState(dir: string): StackState {
  const state = readState(dir);
  if (!state) throw new ScaleError(`the stack in ${dir} was stopped during the scale`);
  return state;
}

/** Read, change, write back state.json (the scale lock keeps other scales out meanwhile). */
function updateState(dir: string, change: (state: StackState) => void): void {
  const state = mustReadState(dir);
  change(state);
  writeState(state);
}

interface LockHolder {
  pid: number;
  startTicks: number;
  since: string;
}

/** Take scale.lock (O_EXCL) or throw ScaleError 75; returns its release. A dead holder's lock is taken over. */
function acquireLock(dir: string): () => void {
  const path = join(dir, 'scale.lock');
  const me: LockHolder = {
    pid: process.pid,
    startTicks: startTicksOf(process.pid) ?? 0,
    since: new Date().toISOString(),
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(path, JSON.stringify(me), { flag: 'wx' });
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ScaleError(`no stack in ${dir}`);
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder: LockHolder;
    try {
      holder = JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
    } catch {
      continue; // being written this very moment, or gone already: look again
    }
    if (isAlive(holder.pid, holder.startTicks))
      throw new ScaleError(
        `another scale of this stack is running (pid ${holder.pid}, since ${holder.since}): try again when it has finished`,
        75,
      );
    rmSync(path, { force: true }); // its holder died mid-scale
  }
  throw new ScaleError(`could not take ${path}: try again`, 75);
}
