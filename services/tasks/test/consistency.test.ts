// Reads on replicas without ever showing users a state older than their own writes (design §3), against
// real streaming replicas: one of them paused mid-test, another stopped mid-test. Two app instances
// share Redis, as two service replicas do: writes go through one, reads through the other.
import { randomUUID } from 'node:crypto';
import { parseLsn } from '@taskfleet/events';
import { queryOnce, waitFor } from '@taskfleet/infra';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, extraReplica, newUser, stack } from './helper.ts';

const native = stack.state.runtime === 'native';
async function readCounts(app: FastifyInstance): Promise<Record<string, number>> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const counts: Record<string, number> = {};
  for (const m of text.matchAll(/^tasks_db_reads_total\{target="(\w+)",reason="(\w+)"\} (\d+)/gm))
    counts[`${m[1]}:${m[2]}`] = Number(m[3]);
  return counts;
}
const sum = (c: Record<string, number>, prefix: string) =>
  Object.entries(c)
    .filter(([k]) => k.startsWith(prefix))
    .reduce((a, [, v]) => a + v, 0);

describe.skipIf(!native)('read-your-writes with a paused replica', () => {
  let paused: Awaited<ReturnType<typeof extraReplica>>;
  let writer: FastifyInstance;
  let reader: FastifyInstance;

  beforeAll(async () => {
    paused = await extraReplica('paused');
    // The paused replica first, the healthy shared replica1 second: round-robin would hit it half the time.
    const env = { DATABASE_REPLICA_URLS: `${paused.url},${stack.env.DATABASE_REPLICA_URLS!.split(',')[0]}` };
    writer = await build(env);
    reader = await build(env);
  });
  afterAll(async () => {
    await writer?.close();
    await reader?.close();
    await paused?.stop();
  });

  it('never shows a writer a stale state over 1,000 write-then-read pairs, and still uses replicas', async () => {
    const users = await Promise.all(Array.from({ length: 10 }, () => newUser(writer)));
    const asReader = (u: (typeof users)[number]) => (url: string) =>
      reader.inject({ method: 'GET', url, headers: { authorization: `Bearer ${u.token}` } });
    // Seed one task per user, let every replica catch up, then freeze one of them.
    const tasks = await Promise.all(
      users.map(async (u) =>
        (await u.call({ method: 'POST', url: '/v1/tasks', payload: { title: 'v1' } })).json(),
      ),
    );
    const seeded = parseLsn(
      (await reader.db.primary.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn')).rows[0]!
        .lsn,
    );
    await waitFor(
      'every replica past the seeds',
      () => reader.db.router.replicas.every((r) => (r.replayLsn ?? 0n) >= seeded),
      { intervalMs: 20 },
    );
    await queryOnce(paused.direct, 'select pg_wal_replay_pause()');

    let stale = 0;
    let pairs = 0;
    const lastCreated: string[] = [];
    const newest = [...tasks];
    for (let i = 0; i < 1000; i++) {
      const k = i % users.length;
      const user = users[k]!;
      const read = asReader(user);
      if (i % 2 === 0) {
        // Update, then read the new version through the other instance.
        const task = tasks[k];
        const res = await user.call({
          method: 'PATCH',
          url: `/v1/tasks/${task.id}`,
          headers: { 'if-match': `"${task.version}"` },
          payload: { title: `v${task.version + 1}` },
        });
        expect(res.statusCode).toBe(200);
        tasks[k] = res.json();
        const got = await read(`/v1/tasks/${task.id}`);
        if (got.statusCode !== 200 || got.json().version !== tasks[k].version) stale++;
      } else {
        // Create, then find it both by id and in the first page of the list.
        const created = (
          await user.call({ method: 'POST', url: '/v1/tasks', payload: { title: `new ${i}` } })
        ).json();
        lastCreated.push(created.id);
        newest[k] = created;
        const byId = await read(`/v1/tasks/${created.id}`);
        const page = await read('/v1/tasks?limit=1');
        if (byId.statusCode !== 200 || page.json().items[0]?.id !== created.id) stale++;
      }
      pairs++;
    }
    expect(pairs).toBe(1000);
    expect(stale).toBe(0);

    // The test can fail: the paused replica really is behind — it has none of the tasks just created.
    const onPaused = await queryOnce(
      paused.direct,
      'select count(*)::int as n from tasks where id = any($1::uuid[])',
      [lastCreated],
    );
    expect(onPaused.rows[0]!.n).toBe(0);

    // Once the healthy replica's polled position passes their writes, the same users read from replicas.
    // A list shape none of them asked for before, so that the cache cannot answer it: each read reaches
    // the database, and it must see the user's newest task at its latest version.
    // Wait for that, not for a time: a busy machine replays and polls late.
    const written = parseLsn(
      (await reader.db.primary.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn')).rows[0]!
        .lsn,
    );
    await waitFor(
      'a replica in rotation past the writes',
      () => reader.db.router.replicas.some((r) => r.inRotation && (r.replayLsn ?? 0n) >= written),
      { intervalMs: 20 },
    );
    const before = await readCounts(reader);
    for (const [k, user] of users.entries()) {
      const expected = k % 2 === 0 ? tasks[k] : newest[k];
      const [first] = (await asReader(user)('/v1/tasks?limit=99')).json().items;
      expect({ id: first.id, version: first.version }).toEqual({
        id: expected.id,
        version: expected.version,
      });
    }
    const after = await readCounts(reader);
    expect(sum(after, 'replica:') - sum(before, 'replica:')).toBe(users.length);
    expect(sum(after, 'primary:')).toBe(sum(before, 'primary:'));

    // Share of reads per target, as exported: replicas served part of the load throughout.
    // biome-ignore lint/suspicious/noConsole: reported figure
    console.log(`reads by target: ${JSON.stringify(after)}`);
    expect(sum(after, 'replica:')).toBeGreaterThan(0);
    await queryOnce(paused.direct, 'select pg_wal_replay_resume()');
  });

  it('sends readers without recent writes to replicas, not the primary', async () => {
    const fresh = await newUser(reader);
    const before = await readCounts(reader);
    // Distinct reads (cached results would not reach the database at all).
    for (let i = 0; i < 20; i++) {
      expect((await fresh.call({ method: 'GET', url: `/v1/tasks/${randomUUID()}` })).statusCode).toBe(404);
    }
    const after = await readCounts(reader);
    expect(sum(after, 'replica:') - sum(before, 'replica:')).toBe(20);
    expect(sum(after, 'primary:')).toBe(sum(before, 'primary:'));
  });

  it('honours a consistency token sent by the client even when Redis has none', async () => {
    const user = await newUser(writer);
    await queryOnce(paused.direct, 'select pg_wal_replay_pause()');
    try {
      const created = await user.call({ method: 'POST', url: '/v1/tasks', payload: { title: 'x' } });
      const token = created.headers['x-consistency-token'] as string;
      await writer.db.redis.flushdb(); // as if the token store had lost it
      for (let i = 0; i < 20; i++) {
        const res = await reader.inject({
          method: 'GET',
          url: `/v1/tasks/${created.json().id}`,
          headers: { authorization: `Bearer ${user.token}`, 'x-consistency-token': token },
        });
        expect(res.statusCode).toBe(200);
      }
    } finally {
      await queryOnce(paused.direct, 'select pg_wal_replay_resume()');
    }
  });
});

describe.skipIf(!native)('a replica that stops', () => {
  let doomed: Awaited<ReturnType<typeof extraReplica>>;
  let app: FastifyInstance;
  beforeAll(async () => {
    doomed = await extraReplica('doomed');
    app = await build({ DATABASE_REPLICA_URLS: doomed.url });
  });
  afterAll(async () => {
    await app?.close();
    await doomed?.stop();
  });

  it('leaves the rotation, and reads keep succeeding on the primary', async () => {
    const user = await newUser(app);
    const created = await user.call({ method: 'POST', url: '/v1/tasks', payload: { title: 'kept' } });
    const task = created.json();
    const written = parseLsn(String(created.headers['x-consistency-token']));
    await waitFor(
      'the replica in rotation past the create',
      () => app.db.router.replicas.some((r) => r.inRotation && (r.replayLsn ?? 0n) >= written),
      { intervalMs: 20 },
    );
    const replicaReads = async () => sum(await readCounts(app), 'replica:');
    const before = await replicaReads();
    expect((await user.call({ method: 'GET', url: `/v1/tasks/${task.id}` })).statusCode).toBe(200);
    expect(await replicaReads()).toBe(before + 1);
    expect(app.db.router.replicas[0]!.inRotation).toBe(true);

    // Stop it while reads keep coming.
    const reads: Promise<number>[] = [];
    const stopping = doomed.stop();
    for (let i = 0; i < 50; i++) {
      reads.push(user.call({ method: 'GET', url: `/v1/tasks/${task.id}` }).then((r) => r.statusCode));
      await new Promise((r) => setTimeout(r, 10));
    }
    await stopping;
    for (let i = 0; i < 20; i++)
      reads.push(user.call({ method: 'GET', url: `/v1/tasks/${task.id}` }).then((r) => r.statusCode));
    expect(new Set(await Promise.all(reads))).toEqual(new Set([200]));

    await waitFor('the stopped replica out of rotation', () => !app.db.router.replicas[0]!.inRotation, {
      intervalMs: 20,
    });
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    const name = app.db.router.replicas[0]!.name; // the pool's label (its database name)
    expect(metrics).toMatch(new RegExp(`^tasks_db_replica_in_rotation\\{replica="${name}"\\} 0$`, 'm'));
  });
});

describe('Redis, the token store, unreachable', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    // Nothing listens on port 1: every token lookup and record fails fast.
    app = await build({ REDIS_URL: 'redis://127.0.0.1:1' });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('keeps writes and reads working, reading from the primary for safety', async () => {
    const user = await newUser(app);
    const created = await user.call({ method: 'POST', url: '/v1/tasks', payload: { title: 'no redis' } });
    expect(created.statusCode).toBe(201);
    const before = await readCounts(app);
    const read = await user.call({ method: 'GET', url: `/v1/tasks/${created.json().id}` });
    expect(read.statusCode).toBe(200);
    const after = await readCounts(app);
    expect((after['primary:token_unknown'] ?? 0) - (before['primary:token_unknown'] ?? 0)).toBe(1);
    const ready = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().checks.redis).toMatch(/^degraded: /);
  });
});
