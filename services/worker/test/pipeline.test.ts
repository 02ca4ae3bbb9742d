// The invalidation pipeline end to end, against real Postgres (primary + replicas via PgBouncer), Redis
// and RabbitMQ: task writes → outbox (same transaction) → relay (publisher confirms) → topic exchange →
// every tasks replica's L1 and the worker's durable invalidator. Two tasks instances (A and B) stand for
// two service replicas; each test that stops a server stops one of its own.
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEAD_LETTER_QUEUE, EVENTS_EXCHANGE, parseTaskEvent } from '@taskfleet/events';
import type { StackState } from '@taskfleet/infra';
import { guardStack, queryOnce, startExtraRabbitmq, startFaultProxy, stopStack } from '@taskfleet/infra';
import { build, extraReplica, newUser } from '@taskfleet/tasks/testing';
import type { Channel, ChannelModel } from 'amqplib';
import amqp from 'amqplib';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Worker } from '../src/app.ts';
import { stack, startWorker, until } from './helper.ts';

const db = new pg.Pool({ ...stack.viaPgbouncer('primary'), max: 2 });
afterAll(() => db.end());

type User = Awaited<ReturnType<typeof newUser>>;
interface Audit {
  events: Map<string, { type: string; taskId: string; version: number; traceparent?: string }>;
  duplicates: number;
  close(): Promise<void>;
}

/** A consumer of our own on the events exchange: records every event it gets, and repeats. */
async function audit(url: string, opts: { queue?: string } = {}): Promise<Audit> {
  const connection: ChannelModel = await amqp.connect(url);
  const ch: Channel = await connection.createChannel();
  await ch.assertExchange(EVENTS_EXCHANGE, 'topic', { durable: true });
  const { queue } = opts.queue
    ? await ch.assertQueue(opts.queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } })
    : await ch.assertQueue('', { exclusive: true });
  await ch.bindQueue(queue, EVENTS_EXCHANGE, 'task.*');
  const result: Audit = {
    events: new Map(),
    duplicates: 0,
    close: async () => {
      await connection.close().catch(() => {});
    },
  };
  await ch.consume(
    queue,
    (msg) => {
      if (!msg) return;
      const e = parseTaskEvent(msg.content);
      if (result.events.has(e.id)) result.duplicates++;
      const traceparent = msg.properties.headers?.traceparent as string | undefined;
      result.events.set(e.id, { type: e.type, taskId: e.taskId, version: e.version, traceparent });
    },
    { noAck: true },
  );
  return result;
}

async function outboxOf(taskIds: string[]) {
  const r = await db.query(
    'select event_id, type, task_id, version, sent_at from outbox where task_id = any($1::uuid[]) order by seq',
    [taskIds],
  );
  return r.rows as {
    event_id: string;
    type: string;
    task_id: string;
    version: number;
    sent_at: Date | null;
  }[];
}

async function untilL1(app: FastifyInstance) {
  await until('tasks instance connected to RabbitMQ (L1 in use)', () => app.events.connected);
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** A user's write floor for reads (read-your-writes): dropping it makes their reads those of anyone. */
const forgetWrites = (redis: Redis, user: User) => redis.del(`${stack.prefix}ryw:${user.id}`);

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => {});
});
const using = <T>(value: T, close: (v: T) => Promise<unknown>): T => {
  closers.push(() => close(value));
  return value;
};

async function create(user: User, title: string, headers: Record<string, string> = {}) {
  const res = await user.call({ method: 'POST', url: '/v1/tasks', payload: { title }, headers });
  expect(res.statusCode).toBe(201);
  return res.json() as { id: string; version: number };
}

async function patch(user: User, task: { id: string; version: number }, title: string) {
  const res = await user.call({
    method: 'PATCH',
    url: `/v1/tasks/${task.id}`,
    headers: { 'if-match': `"${task.version}"` },
    payload: { title },
  });
  expect(res.statusCode).toBe(200);
  return res.json() as { id: string; version: number; title: string };
}

describe('transactional outbox and relay', () => {
  it('commits one event per write with the write, none for a refused one, and publishes each', async () => {
    const events = using(await audit(stack.amqpUrl), (a) => a.close());
    const a = using(await build(), (app) => app.close());
    const user = await newUser(a);
    const traceparent = `00-${randomUUID().replaceAll('-', '')}-${'b7ad6b7169203331'}-01`;

    const t = await create(user, 'one', { traceparent });
    const t2 = await patch(user, t, 'two');
    const stale = await user.call({
      method: 'PATCH',
      url: `/v1/tasks/${t.id}`,
      headers: { 'if-match': `"${t.version}"` },
      payload: { title: 'lost update' },
    });
    expect(stale.statusCode).toBe(412);
    expect((await user.call({ method: 'DELETE', url: `/v1/tasks/${t2.id}` })).statusCode).toBe(204);

    // Before any relay runs: exactly the three committed writes are waiting, in order.
    const rows = await outboxOf([t.id]);
    expect(rows.map((r) => [r.type, r.version])).toEqual([
      ['task.created', 1],
      ['task.updated', 2],
      ['task.deleted', 2],
    ]);
    expect(rows.every((r) => r.sent_at === null)).toBe(true);

    const worker = using(await startWorker(), (w) => w.app.close());
    const delivered = await until('three events delivered', () =>
      rows.every((r) => events.events.has(r.event_id)) ? events.events : undefined,
    );
    expect(delivered.get(rows[0]!.event_id)).toEqual({
      type: 'task.created',
      taskId: t.id,
      version: 1,
      traceparent,
    });
    await until('rows marked sent', async () => (await outboxOf([t.id])).every((r) => r.sent_at !== null));
    const metrics = (await worker.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/^outbox_published_total [1-9]/m);
    expect(metrics).toMatch(/^outbox_backlog 0$/m);
  });

  it('publishes every event exactly once with three relays racing over a stream of writes', async () => {
    const events = using(await audit(stack.amqpUrl), (a) => a.close());
    const a = using(await build(), (app) => app.close());
    const workers: Worker[] = [];
    for (let i = 0; i < 3; i++)
      workers.push(using(await startWorker({ RELAY_BATCH: '7' }), (w) => w.app.close()));
    const users = await Promise.all(Array.from({ length: 6 }, () => newUser(a)));
    const ids: string[] = [];
    await Promise.all(
      users.map(async (user) => {
        for (let i = 0; i < 50; i++) ids.push((await create(user, `race ${i}`)).id);
      }),
    );
    const rows = await outboxOf(ids);
    expect(rows).toHaveLength(300);
    await until('all 300 delivered', () => rows.every((r) => events.events.has(r.event_id)));
    expect(events.duplicates).toBe(0);
    // More than one relay did the work (the race is real), and together they sent each row once.
    const published = await Promise.all(
      workers.map(async (w) => {
        const text = (await w.app.inject({ method: 'GET', url: '/metrics' })).body;
        return Number(/^outbox_published_total (\d+)/m.exec(text)?.[1] ?? 0);
      }),
    );
    expect(published.filter((n) => n > 0).length).toBeGreaterThan(1);
  });

  it('dead-letters a message that is not a task event instead of retrying it', async () => {
    using(await startWorker(), (w) => w.app.close());
    const connection = using(await amqp.connect(stack.amqpUrl), (c) => c.close());
    const ch = await connection.createConfirmChannel();
    const marker = `poison ${randomUUID()}`;
    ch.publish(EVENTS_EXCHANGE, 'task.updated', Buffer.from(marker), { persistent: true });
    await ch.waitForConfirms();
    await until('poison message in the dead-letter queue', async () => {
      for (;;) {
        const msg = await ch.get(DEAD_LETTER_QUEUE, { noAck: true });
        if (!msg) return false;
        if (msg.content.toString() === marker) return true;
      }
    });
  });
});

describe('invalidation across tasks replicas', () => {
  it('shows the writer the new version at once through the other replica, and everyone soon after', async () => {
    using(await startWorker({ RELAY_POLL_MS: '20' }), (w) => w.app.close());
    const a = using(await build(), (app) => app.close());
    const b = using(await build(), (app) => app.close());
    await untilL1(a);
    await untilL1(b);
    const redis = using(new Redis(stack.env.REDIS_URL!), async (r) => r.disconnect());
    const user = await newUser(a);
    const viaB = (id: string) =>
      b.inject({ method: 'GET', url: `/v1/tasks/${id}`, headers: { authorization: `Bearer ${user.token}` } });

    // Two tasks: B's cached copy of `seen` measures how soon everyone sees a change; `own` checks that
    // the writer sees theirs at once. Each round starts with B holding both in its L1.
    const latencies: number[] = [];
    let seen = await create(user, 'seen');
    let own = await create(user, 'own');
    for (let i = 0; i < 100; i++) {
      await forgetWrites(redis, user);
      await until('B holds the current versions', async () => {
        const [x, y] = [(await viaB(seen.id)).json(), (await viaB(own.id)).json()];
        return x.version === seen.version && y.version === own.version;
      });

      // Everyone (no write floor): as soon as the event has evicted B's copy.
      seen = await patch(user, seen, `seen ${i}`);
      const start = performance.now();
      await forgetWrites(redis, user);
      await until(
        'B shows the update to a reader without a write floor',
        async () => (await viaB(seen.id)).json().version === seen.version,
        5_000,
        1, // poll closely: the figure is the measurement
      );
      latencies.push(performance.now() - start);

      // The writer: at once, although B's L1 still holds the old version when the read arrives.
      own = await patch(user, own, `own ${i}`);
      expect((await viaB(own.id)).json().version).toBe(own.version);
    }
    latencies.sort((x, y) => x - y);
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    // biome-ignore lint/suspicious/noConsole: reported figure (target p99 ≤ 100 ms; see docs/caching-and-events.md)
    console.log(
      `cross-replica invalidation visible after: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms (n=${latencies.length})`,
    );
    const received = (await b.inject({ method: 'GET', url: '/metrics' })).body;
    expect(received).toMatch(/^tasks_invalidations_received_total\{type="task.updated"\} [1-9]/m);
  });
});

describe.skipIf(stack.state.runtime !== 'native')('invalidation with a lagging replica', () => {
  it('never re-fills an evicted entry from a replica that has not replayed the write', async () => {
    const lagging = await extraReplica('pipeline');
    closers.push(() => lagging.stop());
    using(await startWorker(), (w) => w.app.close());
    const a = using(await build(), (app) => app.close());
    // B reads from the lagging replica only (when it is caught up enough).
    const b = using(await build({ DATABASE_REPLICA_URLS: lagging.url }), (app) => app.close());
    await untilL1(b);
    const redis = using(new Redis(stack.env.REDIS_URL!), async (r) => r.disconnect());
    const user = await newUser(a);
    const viaB = async (id: string) =>
      (
        await b.inject({
          method: 'GET',
          url: `/v1/tasks/${id}`,
          headers: { authorization: `Bearer ${user.token}` },
        })
      ).json();
    const reads = async () => {
      const text = (await b.inject({ method: 'GET', url: '/metrics' })).body;
      const count = (target: string) =>
        [
          ...text.matchAll(new RegExp(`^tasks_db_reads_total\\{target="${target}"[^}]*\\} (\\d+)`, 'gm')),
        ].reduce((n, m) => n + Number(m[1]), 0);
      return { replica: count('replica'), primary: count('primary') };
    };
    const received = async () => {
      const text = (await b.inject({ method: 'GET', url: '/metrics' })).body;
      return Number(/^tasks_invalidations_received_total\{type="task.updated"\} (\d+)/m.exec(text)?.[1] ?? 0);
    };

    const inRotation = async () =>
      /^tasks_db_replica_in_rotation\{[^}]*\} 1$/m.test(
        (await b.inject({ method: 'GET', url: '/metrics' })).body,
      );
    await until('B has the replica in rotation', inRotation);

    const task = await create(user, 'v1');
    // B caches version 1, read from the replica once it has caught up.
    await forgetWrites(redis, user);
    await until('B reads version 1', async () => (await viaB(task.id)).version === 1);

    await queryOnce(lagging.direct, 'select pg_wal_replay_pause()');
    try {
      const updatesBefore = await received();
      await patch(user, task, 'v2');
      await until('B received the update event', async () => (await received()) > updatesBefore);
      // A reader without a write floor: B's L1 entry is gone, and its floor keeps the paused replica
      // (which still has version 1) from answering — the primary does.
      await forgetWrites(redis, user);
      expect(await inRotation()).toBe(true); // the replica could answer: only the floor keeps it out
      const before = await reads();
      expect((await viaB(task.id)).version).toBe(2);
      const after = await reads();
      expect(after.replica - before.replica).toBe(0);
      expect(after.primary - before.primary).toBe(1);
      // And what went back into the caches is version 2.
      const l2 = await redis.get(`${stack.prefix}c:t:${user.id}:${task.id}`);
      expect(JSON.parse(l2!).json).toContain('"version":2');
      const onReplica = await queryOnce(lagging.direct, 'select version from tasks where id = $1', [task.id]);
      expect(onReplica.rows[0]?.version).toBe(1); // the test can fail: the replica really is behind
    } finally {
      await queryOnce(lagging.direct, 'select pg_wal_replay_resume()');
    }
  });
});

/** A server of our own that the test may stop and start again on the same ports. */
function ownDir(name: string) {
  const dir = join(stack.state.dir, `${name}_w${stack.worker}_${randomUUID().slice(0, 8)}`);
  mkdirSync(dir, { recursive: true });
  guardStack(dir, process.pid, join(dir, 'watchdog.log'));
  closers.push(() => stopStack(dir));
  return dir;
}
const parent: StackState = stack.state;

describe('RabbitMQ stopped mid-test', () => {
  it('keeps writes succeeding, piles events up in the outbox, and delivers every one when it returns', async () => {
    const dir = ownDir('rabbitmq');
    const rabbit = await startExtraRabbitmq({ parent, dir, vhosts: [stack.vhost] });
    const url = rabbit.url(stack.vhost);
    const env = { AMQP_URL: url };
    // A durable queue of our own records what is published; it outlives the broker's restart.
    const auditQueue = `audit.${randomUUID()}`;
    using(await audit(url, { queue: auditQueue }), (x) => x.close());
    const worker = using(await startWorker(env), (w) => w.app.close());
    const a = using(await build(env), (app) => app.close());
    const b = using(await build(env), (app) => app.close());
    await untilL1(a);
    await untilL1(b);
    const redis = using(new Redis(stack.env.REDIS_URL!), async (r) => r.disconnect());
    const user = await newUser(a);
    const tasks = await Promise.all(Array.from({ length: 10 }, (_, i) => create(user, `t${i}`)));
    // B caches every task at version 1 in its L1.
    await forgetWrites(redis, user);
    for (const t of tasks) {
      const viaB = await b.inject({
        method: 'GET',
        url: `/v1/tasks/${t.id}`,
        headers: { authorization: `Bearer ${user.token}` },
      });
      expect(viaB.json().version).toBe(1);
    }
    await until('the creations relayed', async () =>
      (await outboxOf(tasks.map((t) => t.id))).every((r) => r.sent_at),
    );

    await stopStack(dir);
    await until('both tasks instances noticed', () => !a.events.connected && !b.events.connected);
    const ids = tasks.map((t) => t.id);
    const latest = new Map<string, number>();
    for (const [i, t] of tasks.entries()) {
      const u1 = await patch(user, t, `offline ${i}`);
      const u2 = await patch(user, u1, `offline again ${i}`);
      latest.set(t.id, u2.version);
    }
    const extra = await create(user, 'written while RabbitMQ was down');
    ids.push(extra.id);
    latest.set(extra.id, 1);
    const waiting = (await outboxOf(ids)).filter((r) => r.sent_at === null);
    expect(waiting).toHaveLength(21);
    const metrics = (await worker.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(Number(/^outbox_backlog (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(21);
    expect(metrics).toMatch(/^worker_amqp_connected 0$/m);

    await startExtraRabbitmq({ parent, dir, ports: rabbit.ports, vhosts: [stack.vhost] });
    const durable = using(await audit(url, { queue: auditQueue }), (x) => x.close());
    await until(
      'every waiting event delivered to the durable audit queue',
      () => waiting.every((r) => durable.events.has(r.event_id)),
      60_000,
    );
    expect(durable.duplicates).toBe(0);
    await until('outbox drained', async () => (await outboxOf(ids)).every((r) => r.sent_at), 10_000);
    await untilL1(b);

    // No invalidation lost: a reader without a write floor sees the latest version of every task via B.
    await forgetWrites(redis, user);
    for (const id of ids) {
      const got = await b.inject({
        method: 'GET',
        url: `/v1/tasks/${id}`,
        headers: { authorization: `Bearer ${user.token}` },
      });
      expect(got.json().version).toBe(latest.get(id));
    }
  }, 120_000);
});

describe('Redis unreachable mid-test', () => {
  it('keeps reads and writes succeeding, and caching resumes — without stale entries — when it returns', async () => {
    // The services reach Redis through a proxy the test can cut: Redis keeps running with its cached
    // entries, as in a network partition, and what the services send meanwhile never arrives.
    // The worker has a link of its own, healed last, to open the window in which Redis still holds
    // entries older than the writes.
    const link = using(await startFaultProxy(stack.redis), (p) => p.close());
    const workerLink = using(await startFaultProxy(stack.redis), (p) => p.close());
    const env = { REDIS_URL: `redis://${link.host}:${link.port}/${stack.redisDb}` };
    const worker = using(
      await startWorker({ REDIS_URL: `redis://${workerLink.host}:${workerLink.port}/${stack.redisDb}` }),
      (w) => w.app.close(),
    );
    const a = using(await build(env), (app) => app.close());
    const b = using(await build(env), (app) => app.close());
    await untilL1(b);
    const user = await newUser(a);
    const get = (app: FastifyInstance, id: string) =>
      app.inject({
        method: 'GET',
        url: `/v1/tasks/${id}`,
        headers: { authorization: `Bearer ${user.token}` },
      });
    // The worker is cut off from Redis first: its durable invalidator, running late through the creates'
    // events on a busy machine, would otherwise delete (correctly, redundantly) the entries filled below.
    workerLink.partition();
    const tasks = await Promise.all(Array.from({ length: 10 }, (_, i) => create(user, `r${i}`)));
    for (const t of tasks) expect((await get(b, t.id)).statusCode).toBe(200); // now in Redis (L2)

    const direct = using(new Redis(stack.env.REDIS_URL!), async (r) => r.disconnect());
    const inL2 = new Set<string>();
    for (const t of tasks) if (await direct.exists(`${stack.prefix}c:t:${user.id}:${t.id}`)) inL2.add(t.id);
    expect(inL2.size).toBeGreaterThan(0);
    link.partition();
    const statuses: number[] = [];
    const latest = new Map<string, number>();
    for (const [i, t] of tasks.entries()) {
      const updated = await user.call({
        method: 'PATCH',
        url: `/v1/tasks/${t.id}`,
        headers: { 'if-match': `"${t.version}"` },
        payload: { title: `during outage ${i}` },
      });
      statuses.push(updated.statusCode);
      latest.set(t.id, updated.json().version);
      statuses.push((await get(a, t.id)).statusCode, (await get(b, t.id)).statusCode);
    }
    const created = await user.call({ method: 'POST', url: '/v1/tasks', payload: { title: 'no redis' } });
    statuses.push(created.statusCode);
    statuses.push((await user.call({ method: 'GET', url: '/v1/tasks?limit=5' })).statusCode);
    statuses.push((await user.call({ method: 'GET', url: '/v1/tasks/summary' })).statusCode);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(new Set(statuses)).toEqual(new Set([200, 201]));

    // A new instance (no floors: it never saw the events), with a working link, reads while Redis still
    // holds the old entries: it may answer with them — readers without a write floor get eventual
    // consistency — but must not keep them in its L1, where no event would ever evict them.
    const c = using(await build({ REDIS_URL: stack.env.REDIS_URL! }), (app) => app.close());
    await untilL1(c);
    const redis = using(new Redis(stack.env.REDIS_URL!), async (r) => r.disconnect()); // direct
    const total = async (app: FastifyInstance, series: RegExp) => {
      const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      return [...text.matchAll(series)].reduce((n, m) => n + Number(m[1]), 0);
    };
    const l2Hits = (app: FastifyInstance) => total(app, /^tasks_cache_hits_total\{layer="l2"[^}]*\} (\d+)/gm);
    // A Redis command that times out on a busy machine is a correct outcome (the read goes to the
    // database and says so in these counters), not a sign that caching did not resume.
    const redisFailures = (app: FastifyInstance) =>
      total(app, /^tasks_(?:cache|consistency_token)_errors_total\{[^}]*\} (\d+)/gm);
    await forgetWrites(redis, user);
    // What Redis still holds now: every other client of it is cut off, so nothing deletes these before
    // c reads them (a delete sent before the partition, by the invalidator, has landed by now).
    const stillHeld = new Set<string>();
    for (const t of tasks)
      if (await direct.exists(`${stack.prefix}c:t:${user.id}:${t.id}`)) stillHeld.add(t.id);
    expect(stillHeld.size).toBeGreaterThan(0);
    const cFailuresBefore = await redisFailures(c);
    let oldVersions = 0;
    let knownWritten = 0;
    for (const t of tasks) {
      const version = (await get(c, t.id)).json().version;
      // The window is real: what Redis held before the writes is still there, at version 1 — unless
      // that read's Redis command timed out (a busy machine) and it read the database instead, or the
      // task's event reached c (a relay running late publishes after c subscribed): then c knows the
      // write's position as the key's floor and rightly refuses the older entry.
      if (!stillHeld.has(t.id)) continue;
      expect([1, latest.get(t.id)]).toContain(version);
      if (version === 1) oldVersions++;
      else if (c.cache.floorOf(c.cache.keys.task(user.id, t.id)) !== null) knownWritten++;
    }
    expect(
      oldVersions + knownWritten + (await redisFailures(c)) - cFailuresBefore,
      `old ${oldVersions}, floors ${knownWritten}; ${stillHeld.size} entries held of ${inL2.size} filled`,
    ).toBeGreaterThanOrEqual(stillHeld.size);
    link.heal();
    workerLink.heal();
    // Then everyone sees the latest versions: the worker's invalidator kept retrying the deletes.
    const stale = async () => {
      await forgetWrites(redis, user);
      const found: string[] = [];
      for (const t of tasks) {
        const got = (await get(c, t.id)).json().version;
        if (got !== latest.get(t.id)) found.push(`${t.id}: v${got}, latest v${latest.get(t.id)}`);
      }
      return found;
    };
    try {
      await until('no stale entry left in Redis', async () => (await stale()).length === 0, 30_000);
    } catch (err) {
      // What the invalidator was doing, for whoever reads the failure.
      const metrics = (await worker.app.inject({ method: 'GET', url: '/metrics' })).body;
      const lines = metrics.split('\n').filter((l) => /^(worker_|outbox_)/.test(l));
      throw new Error(`${(err as Error).message}\nstale: ${(await stale()).join('; ')}\n${lines.join('\n')}`);
    }

    // The invalidator has no delete left to retry (a late one would only cost the check below a miss).
    await until('no invalidation waiting for Redis', async () => {
      const text = (await worker.app.inject({ method: 'GET', url: '/metrics' })).body;
      return (
        /^worker_invalidations_waiting 0$/m.test(text) &&
        /^worker_invalidations_total\{outcome="retry"\} [1-9]/m.test(text)
      );
    });
    // Caching resumes: a fresh instance (empty L1) puts the entries back into Redis, and the next fresh
    // one finds them there.
    const d = using(await build(env), (app) => app.close());
    const dFailuresBefore = await redisFailures(d);
    for (const t of tasks) expect((await get(d, t.id)).json().version).toBe(latest.get(t.id));
    let refilled = 0;
    for (const t of tasks) refilled += await redis.exists(`${stack.prefix}c:t:${user.id}:${t.id}`);
    // Every entry is back, but for fills whose Redis command timed out (counted as failures).
    expect(refilled).toBeGreaterThan(0);
    expect(refilled + (await redisFailures(d)) - dFailuresBefore).toBeGreaterThanOrEqual(tasks.length);
    const e = using(await build(env), (app) => app.close());
    const [hitsBefore, failuresBefore] = [await l2Hits(e), await redisFailures(e)];
    for (const t of tasks) expect((await get(e, t.id)).json().version).toBe(latest.get(t.id));
    const hits = (await l2Hits(e)) - hitsBefore;
    expect(hits).toBeGreaterThan(0);
    expect(hits + (await redisFailures(e)) - failuresBefore).toBeGreaterThanOrEqual(refilled);
  }, 60_000);
});
