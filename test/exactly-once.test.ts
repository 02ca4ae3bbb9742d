// Exactly-once creates under real faults (ADR 0009), through the edge, on a native stack of its own:
// client → nginx → gateway ×2 → tasks ×2 → PgBouncer → Postgres, with Redis and RabbitMQ. Faults are
// real: SIGSTOP/SIGCONT of Redis, of a gateway holding claims, SIGKILL of Redis and a restart empty.
// Clients retry each create with its Idempotency-Key as the docs invite; after every fault a
// Jepsen-style set check compares what they were told with what the primary holds.
import { performance } from 'node:perf_hooks';
import {
  isAlive,
  newAccount,
  queryOnce,
  readState,
  redisOnce,
  startExtraRedis,
  waitFor,
} from '@taskfleet/infra';
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import type { Attempt, SetCheck } from './support/create-history.ts';
import { CreateHistory } from './support/create-history.ts';
import { edgeStack, native } from './support/edge-stack.ts';

const LEASE_MS = 3_000; // the gateway's default claim lease, stated so the gateway pause can exceed it
/** The bound: no key may still answer 409 this long after a fault ends. */
const RECOVERY_MS = 2_000;
const stack = edgeStack('once', {
  // Retrying clients send many requests from one address: limits out of the way of the faults.
  edgeLimits: { rate: '10000r/s', burst: 10_000, connections: 1_024 },
  serviceEnv: {
    RATE_LIMIT_USER_MAX: '100000',
    RATE_LIMIT_AUTH_MAX: '1000',
    IDEMPOTENCY_LEASE_MS: String(LEASE_MS),
  },
});
const { pidOf, serviceUrl } = stack;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The shared wait-for-condition, polled often: these tests measure recovery in milliseconds. */
const until = (what: string, probe: () => Promise<boolean>) => waitFor(what, probe, { intervalMs: 20 });

/** A fresh account and a history of its creates (title = key), sent to `base` (the edge by default). */
async function client(attemptTimeoutMs = 2_000) {
  const { accessToken, auth } = await newAccount(stack.edge, 'once');
  const owner = decodeJwt(accessToken).sub!;
  const sendTo = (base: string) => (key: string, signal: AbortSignal) =>
    fetch(`${base}/v1/tasks`, {
      method: 'POST',
      body: JSON.stringify({ title: key }),
      headers: { ...auth, 'content-type': 'application/json', 'idempotency-key': key },
      signal,
    });
  const history = new CreateHistory(sendTo(stack.edge), attemptTimeoutMs);
  /** What the primary holds for this owner: ids by title (= key). */
  const stored = async () => {
    const r = await queryOnce<{ title: string; id: string }>(
      { ...stack.state.endpoints.postgres.primary, database: stack.state.databases[0] },
      'select title, id from tasks where owner_id = $1',
      [owner],
    );
    const byTitle = new Map<string, string[]>();
    for (const row of r.rows) byTitle.set(row.title, [...(byTitle.get(row.title) ?? []), row.id]);
    return byTitle;
  };
  const expectExactlyOnce = async (keys: string[]): Promise<SetCheck> => {
    const check = history.check(await stored());
    expect(check, JSON.stringify(check)).toMatchObject({
      attempted: keys.length,
      acknowledged: keys.length,
      lost: [],
      duplicated: [],
      unexpected: [],
      mismatched: [],
    });
    return check;
  };
  return { history, sendTo, expectExactlyOnce, auth, owner };
}

/** Attempts sent this long after the fault ended (or later) that were still told "in flight". */
const stuckAfter = (attempts: Attempt[], faultEnded: number) =>
  attempts.filter((a) => a.outcome === 409 && a.sentAt > faultEnded + RECOVERY_MS);

/** Per key, how long after `since` an attempt sent since then was first acknowledged. */
function ackTimes(history: CreateHistory, keys: string[], since: number) {
  const times = keys.map((k) => (history.acknowledgedAt(k, since) ?? Number.POSITIVE_INFINITY) - since);
  times.sort((a, b) => a - b);
  return { medianMs: Math.round(times[Math.floor(times.length / 2)]!), maxMs: Math.round(times.at(-1)!) };
}

/** The idempotency records in Redis (of one owner's keys, or of all), by stack.state. */
const claimStates = (owner = '*') =>
  redisOnce(stack.state.endpoints.redis, async (r) => {
    const names = await r.keys(`*idem:user:${owner}:*`);
    const values = names.length ? await r.mget(...names) : [];
    return values.map((v) => (JSON.parse(v ?? '{}') as { state?: string }).state);
  });

const keysFor = (n: number) => Array.from({ length: n }, () => crypto.randomUUID());

describe.skipIf(!native)('exactly-once creates under faults, through the edge', () => {
  it('races one key over both gateways: one task per key', async () => {
    const { history, expectExactlyOnce } = await client();
    const keys = keysFor(10);
    // Six concurrent sends of each key (nginx spreads them over both gateways), then retries to the end.
    await Promise.all(keys.flatMap((k) => Array.from({ length: 6 }, () => history.attempt(k))));
    const deadline = performance.now() + 30_000;
    await Promise.all(keys.map((k) => history.untilAcknowledged(k, deadline)));
    const outcomes = new Set(history.attempts.map((a) => a.outcome));
    // Each answer is a create, its replay, "still running", or — on a machine too busy for it — a
    // gateway shedding load or an attempt given up: nothing else.
    const correct = new Set<Attempt['outcome']>([201, 409, 503, 'timeout']);
    expect(
      [...outcomes].every((o) => correct.has(o)),
      [...outcomes].join(),
    ).toBe(true);
    await expectExactlyOnce(keys);
  });

  it('a gateway frozen past its lease while it holds claims: the retries replay, nothing runs twice', async () => {
    const { history, sendTo, expectExactlyOnce } = await client();
    const keys = keysFor(8);
    const tasks = [pidOf('tasks-1'), pidOf('tasks-2')];
    // Hold the task replicas so that gateway-1's requests stay in flight: it holds every claim.
    for (const pid of tasks) process.kill(pid, 'SIGSTOP');
    const frozen: number[] = [...tasks];
    try {
      const first = keys.map((k) => history.attempt(k, sendTo(serviceUrl('gateway', 1))));
      await until(
        'gateway-1 to hold a claim on every key',
        async () => (await claimStates()).filter((s) => s === 'running').length >= keys.length,
      );
      process.kill(pidOf('gateway-1'), 'SIGSTOP');
      frozen.push(pidOf('gateway-1'));
      // The replicas go on: they create the tasks and answer a gateway that can't hear them.
      for (const pid of tasks) process.kill(pid, 'SIGCONT');
      frozen.splice(0, 2);
      const faultStarted = performance.now();
      // Meanwhile the clients retry through the edge (the other gateway): 409 while the lease lasts,
      // then the claim is free, and the task service answers with the task it already made.
      const deadline = faultStarted + 60_000;
      const retries = Promise.all(
        keys.map(async (k, i) => {
          await first[i];
          return history.untilAcknowledged(k, deadline);
        }),
      );
      await sleep(LEASE_MS + 2_000); // the fault: frozen longer than its lease
      process.kill(pidOf('gateway-1'), 'SIGCONT');
      frozen.pop();
      const faultEnded = performance.now();
      await retries;
      // Having lagged for seconds, it sheds load for a moment (503 + Retry-After); the next test wants it.
      await until('gateway-1 to serve again', async () => {
        const r = await fetch(`${serviceUrl('gateway', 1)}/health/ready`).catch(() => undefined);
        return r?.status === 200;
      });
      await expectExactlyOnce(keys);
      expect(stuckAfter(history.attempts, faultEnded)).toEqual([]);
      const replayed = history.attempts.filter((a) => a.outcome === 201 && a.replayed).length;
      expect(replayed).toBeGreaterThan(0); // the retries found the tasks the frozen gateway's requests made
      // biome-ignore lint/suspicious/noConsole: reported figure
      console.log(
        'gateway frozen',
        LEASE_MS + 2_000,
        'ms (lease 3000 ms); keys acknowledged after the freeze began:',
        ackTimes(history, keys, faultStarted),
      );
    } finally {
      for (const pid of frozen) process.kill(pid, 'SIGCONT');
    }
  });

  it('Redis frozen 6 s during creates: every key answers again within 2 s of SIGCONT, none twice', async () => {
    const { history, expectExactlyOnce } = await client(3_000);
    const before = keysFor(4);
    for (const k of before) expect((await history.attempt(k)).outcome).toBe(201);
    const during = keysFor(10);
    const redis = pidOf('redis');
    process.kill(redis, 'SIGSTOP');
    let resumed = false;
    try {
      const faultStarted = performance.now();
      // Creates and retries during the freeze: each one attempt, whatever it is told.
      await Promise.all([...during, ...before].map((k) => history.attempt(k)));
      await sleep(Math.max(0, 6_000 - (performance.now() - faultStarted)));
      process.kill(redis, 'SIGCONT');
      resumed = true;
      const faultEnded = performance.now();
      const deadline = faultEnded + 30_000;
      await Promise.all([...during, ...before].map((k) => history.untilAcknowledged(k, deadline, 50)));
      await expectExactlyOnce([...before, ...during]);
      expect(stuckAfter(history.attempts, faultEnded)).toEqual([]);
      // No claim is left behind: every record is an answer.
      await until('every idempotency record to be an answer', async () =>
        (await claimStates()).every((s) => s === 'done'),
      );
      // biome-ignore lint/suspicious/noConsole: reported figure
      console.log(
        'Redis frozen 6 s; retries acknowledged after SIGCONT:',
        ackTimes(history, during, faultEnded),
      );
    } finally {
      if (!resumed) process.kill(redis, 'SIGCONT');
    }
  });

  it('Redis killed and restarted empty between a create and its retry: the retry replays the first task', async () => {
    const { history, expectExactlyOnce, owner } = await client();
    const keys = keysFor(8);
    const first = new Map<string, string>();
    for (const k of keys) {
      const a = await history.attempt(k);
      expect(a.outcome).toBe(201);
      first.set(k, a.taskId!);
    }
    // Their answers are in Redis (written after each response was sent): then Redis loses them all.
    await until('every answer to be in Redis', async () => {
      const states = await claimStates(owner);
      return states.length === keys.length && states.every((s) => s === 'done');
    });
    const old = readState(stack.dir)!.components.find((c) => c.name === 'redis')!;
    process.kill(old.pid, 'SIGKILL');
    await until('the old Redis to be gone', async () => !isAlive(old.pid, old.startTicks));
    const side = stack.sideDir('redis-restarted');
    await startExtraRedis({ parent: stack.state, dir: side, port: stack.state.endpoints.redis.port });
    expect(await claimStates(owner)).toEqual([]); // every record of these keys is gone
    const deadline = performance.now() + 30_000;
    for (const k of keys) {
      const a = await history.untilAcknowledged(k, deadline);
      expect(a?.replayed, k).toBe(true);
      expect(a?.taskId).toBe(first.get(k));
    }
    await expectExactlyOnce(keys);
  });

  it('PATCH and DELETE with If-Match are safe to retry after a lost answer', async () => {
    const { auth } = await client();
    const created = await fetch(`${stack.edge}/v1/tasks`, {
      method: 'POST',
      body: JSON.stringify({ title: 'conditional' }),
      headers: { ...auth, 'content-type': 'application/json' },
    });
    const { id } = (await created.json()) as { id: string };
    const patch = () =>
      fetch(`${stack.edge}/v1/tasks/${id}`, {
        method: 'PATCH',
        body: JSON.stringify({ tags: ['once'] }),
        headers: { ...auth, 'content-type': 'application/json', 'if-match': '"1"' },
      });
    expect((await patch()).status).toBe(200);
    const again = await patch(); // the client never saw the 200: it sends the same request again
    expect(again.status).toBe(412);
    const read = await fetch(`${stack.edge}/v1/tasks/${id}`, { headers: auth });
    expect(((await read.json()) as { version: number }).version).toBe(2); // applied once
    const remove = () =>
      fetch(`${stack.edge}/v1/tasks/${id}`, { method: 'DELETE', headers: { ...auth, 'if-match': '"2"' } });
    expect((await remove()).status).toBe(204);
    expect((await remove()).status).toBe(404);
  });
});
