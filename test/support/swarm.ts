// What the Swarm lab tests share: the lab's addresses (swarm-setup.ts), the docker CLI on its manager
// and nodes, Postgres on the data node, and a steady, realistic load through the edge whose every
// attempt is recorded — so a rollout or a lost node is judged by what clients saw and by what the
// database holds, not by Docker's own account.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { type Account, newAccount, waitFor } from '@taskfleet/infra';
// undici's own fetch: its Agent (a bounded pool) doesn't plug into the fetch bundled with Node.
import { Agent, fetch, Response } from 'undici';
import { inject } from 'vitest';
import { docker, jsonLines } from '../../shared/infra/src/swarm/docker.ts';
import { LAB, nodeTarget, STACK } from '../../shared/infra/src/swarm/lab.ts';

export const lab = () => inject('swarmLab');
export type Lab = NonNullable<ReturnType<typeof lab>>;

export const onManager = (l: Lab, args: string[], timeoutMs = 120_000) =>
  docker({ host: l.dockerHost }, args, { timeoutMs });
export const onNode = (l: Lab, node: string, args: string[]) => docker(nodeTarget(l.dir, node), args);

/** SQL on the primary, as the superuser, through its container on the data node. */
export async function sql(l: Lab, query: string): Promise<string[][]> {
  const [container] = (await onNode(l, 'node1', ['ps', '-q', '--filter', `name=${STACK}_postgres-primary.`]))
    .split('\n')
    .filter(Boolean);
  if (!container) throw new Error('no postgres-primary container on node1');
  const out = await onNode(l, 'node1', [
    'exec',
    container,
    'psql',
    '-h',
    '/tmp',
    '-U',
    'postgres',
    '-d',
    'taskfleet',
    '-AtF',
    '\t',
    '-c',
    query,
  ]);
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('\t'));
}

export interface ServiceState {
  version: number;
  image: string;
  updateState: string | undefined;
  replicas: number | undefined;
}

export async function serviceState(l: Lab, service: string): Promise<ServiceState> {
  const [s] = JSON.parse(await onManager(l, ['service', 'inspect', `${STACK}_${service}`])) as {
    Version: { Index: number };
    Spec: { TaskTemplate: { ContainerSpec: { Image: string } }; Mode: { Replicated?: { Replicas: number } } };
    UpdateStatus?: { State: string };
  }[];
  return {
    version: s!.Version.Index,
    // The manager pins the digest it resolved (`…:tag@sha256:…`): the tag is what was asked for.
    image: s!.Spec.TaskTemplate.ContainerSpec.Image.replace(/@sha256:[0-9a-f]+$/, ''),
    updateState: s!.UpdateStatus?.State,
    replicas: s!.Spec.Mode.Replicated?.Replicas,
  };
}

/** Until the service's update (or rollback) reaches one of `states`; returns the state reached. */
export async function waitUpdate(l: Lab, service: string, states: string[], timeoutMs = 8 * 60_000) {
  return waitFor(
    `${service}'s update to reach ${states.join(' or ')}`,
    async () => {
      const s = await serviceState(l, service);
      return s.updateState && states.includes(s.updateState) ? s.updateState : undefined;
    },
    { timeoutMs, intervalMs: 1_000 },
  );
}

/** The running tasks of a service: node and image. */
export async function runningTasks(l: Lab, service: string) {
  return jsonLines<{ Node: string; Image: string; CurrentState: string; DesiredState: string }>(
    await onManager(l, [
      'service',
      'ps',
      `${STACK}_${service}`,
      '--filter',
      'desired-state=running',
      '--format',
      '{{json .}}',
    ]),
  ).filter((t) => t.CurrentState.startsWith('Running'));
}

export const nodeContainer = (node: string) => `${LAB}-${node}`;

type Outcome = number | 'timeout' | 'error';
interface Attempt {
  op: 'read' | 'list' | 'create';
  at: number; // ms since the load started
  outcome: Outcome;
  ms: number;
  /** A 5xx answer's problem code (which server said what). */
  code?: string;
  /** The connection error's code (ECONNRESET, …). */
  cause?: string;
}

/**
 * Open-loop load through the edge: `rps` requests a second whatever the servers do, across `accounts`
 * users — 70 % reads of a user's own tasks (by id or a list page), 30 % creates with an
 * Idempotency-Key, each retried as a real client does (a 409 while the first attempt runs, a 429 or
 * 5xx, a timeout or a broken connection → the same request again after Retry-After or a growing pause,
 * until acknowledged or 60 s). Every attempt is recorded. Like a real client (and unlike a flood), it
 * keeps a bounded pool of keep-alive connections: when the servers fall behind, requests wait for a
 * connection and the wait shows in their latency.
 */
export class SteadyLoad {
  readonly attempts: Attempt[] = [];
  /** Each logical request's final result (a create: acknowledged or given up). */
  readonly operations: { op: Attempt['op']; ok: boolean }[] = [];
  /** performance.now() when the load started: attempts' `at` counts from here. */
  get startedAt(): number {
    return this.#started;
  }
  /** Per create: its key, the account, and the task id it was acknowledged with. */
  readonly creates = new Map<string, { owner: Account; title: string; taskId?: string }>();
  /** In every title of this load's creates, so the database check sees only them. */
  readonly run = randomUUID().slice(0, 8);
  readonly #edge: string;
  readonly #accounts: Account[];
  #rps: number;
  readonly #known = new Map<Account, string[]>();
  readonly #inflight = new Set<Promise<void>>();
  readonly #dispatcher = new Agent({ connections: 64, keepAliveTimeout: 30_000 });
  #timer: NodeJS.Timeout | undefined;
  #started = 0;
  #lastTick = 0;
  /** Requests due but not sent yet (fractions carry over between ticks). */
  #owed = 0;
  #next = 0;

  constructor(edge: string, accounts: Account[], rps: number) {
    this.#edge = edge;
    this.#accounts = accounts;
    this.#rps = rps;
  }

  static async start(edge: string, users: number, rps: number): Promise<SteadyLoad> {
    const accounts = [];
    for (let i = 0; i < users; i++) accounts.push(await newAccount(edge, 'swarm-load'));
    const load = new SteadyLoad(edge, accounts, rps);
    load.#started = performance.now();
    load.#lastTick = load.#started;
    load.#timer = setInterval(() => load.#tick(), 10);
    return load;
  }

  /** From now on, this many requests a second. */
  setRate(rps: number): void {
    this.#rps = rps;
  }

  #tick(): void {
    const now = performance.now();
    this.#owed += ((now - this.#lastTick) / 1000) * this.#rps;
    this.#lastTick = now;
    for (; this.#owed >= 1; this.#owed--) {
      const account = this.#accounts[this.#next++ % this.#accounts.length]!;
      const known = this.#known.get(account) ?? [];
      const roll = Math.random();
      const op =
        known.length === 0 || roll < 0.3
          ? this.#create(account)
          : roll < 0.85
            ? this.#read(account, known)
            : this.#list(account);
      this.#inflight.add(op);
      void op.finally(() => this.#inflight.delete(op));
    }
  }

  async #attempt(
    op: Attempt['op'],
    send: (signal: AbortSignal) => Promise<Response>,
  ): Promise<Response | undefined> {
    const t0 = performance.now();
    let outcome: Outcome;
    let res: Response | undefined;
    let code: string | undefined;
    let cause: string | undefined;
    try {
      res = await send(AbortSignal.timeout(10_000));
      // The whole answer, so the connection goes back to the pool and the latency includes the body.
      const body = await res.arrayBuffer();
      if (res.status >= 500) code = /"code":"([A-Z_]+)"/.exec(Buffer.from(body).toString())?.[1] ?? 'none';
      res = new Response(res.status === 204 || res.status === 304 ? null : body, res);
      outcome = res.status;
    } catch (err) {
      outcome = (err as Error).name === 'TimeoutError' ? 'timeout' : 'error';
      const c = (err as { cause?: { code?: string; message?: string } }).cause;
      cause = c?.code ?? c?.message;
    }
    this.attempts.push({
      op,
      at: t0 - this.#started,
      outcome,
      ms: performance.now() - t0,
      ...(code ? { code } : {}),
      ...(cause ? { cause } : {}),
    });
    return res;
  }

  /**
   * A read, sent once more when the connection failed before an answer — what HTTP clients do for an
   * idempotent request on a reused keep-alive connection that the server closed meanwhile (nginx
   * closes its idle ones when it reloads its list of gateways). Counted as an operation either way.
   */
  async #idempotent(op: 'read' | 'list', send: (signal: AbortSignal) => Promise<Response>): Promise<void> {
    let res = await this.#attempt(op, send);
    if (!res) res = await this.#attempt(op, send);
    this.operations.push({ op, ok: res !== undefined && res.status < 500 });
    await res?.body?.cancel();
  }

  async #read(account: Account, known: string[]): Promise<void> {
    const id = known[Math.floor(Math.random() * known.length)];
    await this.#idempotent('read', (signal) =>
      fetch(`${this.#edge}/v1/tasks/${id}`, {
        headers: account.auth,
        signal,
        dispatcher: this.#dispatcher,
      }),
    );
  }

  async #list(account: Account): Promise<void> {
    await this.#idempotent('list', (signal) =>
      fetch(`${this.#edge}/v1/tasks?limit=10`, {
        headers: account.auth,
        signal,
        dispatcher: this.#dispatcher,
      }),
    );
  }

  async #create(account: Account): Promise<void> {
    const key = randomUUID();
    const title = `swarm-load ${this.run} ${key}`;
    const record: { owner: Account; title: string; taskId?: string } = { owner: account, title };
    this.creates.set(key, record);
    const deadline = performance.now() + 60_000;
    for (let pause = 200; performance.now() < deadline; pause = Math.min(pause * 2, 3_000)) {
      const res = await this.#attempt('create', (signal) =>
        fetch(`${this.#edge}/v1/tasks`, {
          method: 'POST',
          headers: { ...account.auth, 'content-type': 'application/json', 'idempotency-key': key },
          body: JSON.stringify({ title }),
          signal,
          dispatcher: this.#dispatcher,
        }),
      );
      if (res?.status === 201) {
        const body = (await res.json()) as { id: string };
        record.taskId = body.id;
        this.#known.set(account, [...(this.#known.get(account) ?? []), body.id].slice(-50));
        this.operations.push({ op: 'create', ok: true });
        return;
      }
      await res?.body?.cancel();
      // 4xx other than 409 (a claim still running) is a bug in this client or the servers: no retry.
      if (res && res.status >= 400 && res.status < 500 && res.status !== 409 && res.status !== 429) break;
      const retryAfter = Number(res?.headers.get('retry-after'));
      await new Promise((r) => setTimeout(r, retryAfter > 0 ? retryAfter * 1_000 : pause));
    }
    this.operations.push({ op: 'create', ok: false });
  }

  #stopped: Promise<LoadReport> | undefined;

  /** Stop sending; wait for every create to be acknowledged or given up. Once; later calls get the same. */
  stop(): Promise<LoadReport> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<LoadReport> {
    clearInterval(this.#timer);
    const durationS = (performance.now() - this.#started) / 1000;
    this.#rps = 0;
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
    await this.#dispatcher.close();
    return report(this, durationS);
  }
}

/** Requests answered and the p95 of their latency over the last `windowMs` (for timelines). */
export function recentWindow(load: SteadyLoad, windowMs: number, nowMs: number) {
  const recent = load.attempts.filter((a) => a.at + a.ms > nowMs - windowMs && a.at + a.ms <= nowMs);
  const ms = recent.map((a) => a.ms).sort((a, b) => a - b);
  return { rps: recent.length / (windowMs / 1000), p95Ms: ms[Math.floor(ms.length * 0.95)] ?? 0 };
}

export interface LoadReport {
  durationS: number;
  attempts: number;
  rps: number;
  /** Attempts answered 5xx, or with no answer (timeout, connection error). */
  failed: Attempt[];
  /** Attempts answered 5xx or timed out: the servers failed them (a client's retry doesn't excuse it). */
  serverFailures: Attempt[];
  /** Attempts whose connection failed before an answer (retried as clients do; reported). */
  connectionErrors: Attempt[];
  /** Logical requests that failed in the end, after the client's retries. */
  failedOperations: number;
  byOutcome: Record<string, number>;
  p95Ms: number;
  creates: number;
  acknowledged: number;
}

function report(load: SteadyLoad, durationS: number): LoadReport {
  const byOutcome: Record<string, number> = {};
  for (const a of load.attempts) byOutcome[String(a.outcome)] = (byOutcome[String(a.outcome)] ?? 0) + 1;
  const ms = load.attempts.map((a) => a.ms).sort((a, b) => a - b);
  return {
    durationS,
    attempts: load.attempts.length,
    rps: load.attempts.length / durationS,
    failed: load.attempts.filter((a) => typeof a.outcome !== 'number' || a.outcome >= 500),
    serverFailures: load.attempts.filter(
      (a) => a.outcome === 'timeout' || (typeof a.outcome === 'number' && a.outcome >= 500),
    ),
    connectionErrors: load.attempts.filter((a) => a.outcome === 'error'),
    failedOperations: load.operations.filter((o) => !o.ok).length,
    byOutcome,
    p95Ms: ms[Math.floor(ms.length * 0.95)] ?? 0,
    creates: load.creates.size,
    acknowledged: [...load.creates.values()].filter((c) => c.taskId).length,
  };
}

/**
 * The database against the record: every acknowledged create present once with the id it was answered
 * with; no key created twice; nothing created that was never sent.
 */
export async function checkCreates(l: Lab, load: SteadyLoad) {
  const rows = await sql(l, `select title, id from tasks where title like 'swarm-load ${load.run} %'`);
  const byTitle = new Map<string, string[]>();
  for (const [title, id] of rows) byTitle.set(title!, [...(byTitle.get(title!) ?? []), id!]);
  const sent = new Map([...load.creates.values()].map((c) => [c.title, c]));
  const lost: string[] = [];
  const mismatched: string[] = [];
  for (const c of sent.values()) {
    if (!c.taskId) continue;
    const ids = byTitle.get(c.title) ?? [];
    if (ids.length === 0) lost.push(c.title);
    else if (!ids.includes(c.taskId)) mismatched.push(c.title);
  }
  const duplicated = [...byTitle].filter(([, ids]) => ids.length > 1).map(([t]) => t);
  const unexpected = [...byTitle.keys()].filter((t) => !sent.has(t));
  return { lost, duplicated, unexpected, mismatched };
}
