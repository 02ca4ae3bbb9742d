// The task service's operational metrics on /metrics, against the real stack: its Postgres pools
// (connections, callers waiting, time to get a client) and the size of its L1 cache. The L1
// invalidation consumer's amqp_messages_consumed_total needs the worker's relay: the worker's
// metrics.test.ts covers it.
import { waitFor } from '@taskfleet/infra';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, newUser } from './helper.ts';

let app: FastifyInstance;
beforeAll(async () => {
  // Two connections per pool, so a test can hold them all; a waiting caller waits long enough to be seen.
  app = await build({ DB_POOL_MAX: '2', DB_POOL_WAIT_MS: '60000' });
  await waitFor('the invalidation channel up (L1 in use)', () => app.events.connected);
});
afterAll(async () => {
  await app.close();
});

const scrape = async () => (await app.inject({ method: 'GET', url: '/metrics' })).body;

/** `name`'s value summed over the series whose labels include `labels`; undefined when there is none. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`, 'gm'))) {
    if (Object.entries(labels).every(([k, v]) => (m[1] ?? '').includes(`${k}="${v}"`)))
      sum = (sum ?? 0) + Number(m[2]);
  }
  return sum;
}

describe('Postgres pool metrics', () => {
  const primary = { pool: 'tasks-primary' };

  it('shows every pool with its connections and times each checkout', async () => {
    const before = await scrape();
    const user = await newUser(app);
    expect(
      (await user.call({ method: 'POST', url: '/v1/tasks', payload: { title: 'pooled' } })).statusCode,
    ).toBe(201);
    const after = await scrape();
    expect(sample(after, 'db_pool_connections', { ...primary, state: 'total' })).toBeGreaterThan(0);
    expect(sample(after, 'db_pool_connections', { ...primary, state: 'idle' })).toBeGreaterThanOrEqual(0);
    expect(sample(after, 'db_pool_waiting_clients', primary)).toBe(0);
    expect(sample(after, 'db_pool_acquire_duration_seconds_count', primary)).toBeGreaterThan(
      sample(before, 'db_pool_acquire_duration_seconds_count', primary) ?? 0,
    );
    // The replicas' pools too, each under its own name (the read router polls them all).
    const pools = new Set(
      [...after.matchAll(/^db_pool_connections\{[^}]*pool="([^"]+)"/gm)].map((m) => m[1]),
    );
    expect(pools.size).toBeGreaterThan(1);
    for (const pool of pools) expect(pool).toMatch(/^tasks-/);
  });

  it('counts callers waiting for a connection while every one is taken', async () => {
    const pool = app.db.primary;
    const held = [await pool.connect(), await pool.connect()];
    const waiting = pool.query('select 1');
    try {
      const text = await scrape();
      expect(sample(text, 'db_pool_waiting_clients', primary)).toBeGreaterThanOrEqual(1);
      expect(sample(text, 'db_pool_connections', { ...primary, state: 'idle' })).toBe(0);
    } finally {
      for (const client of held) client.release();
    }
    await waiting;
    expect(sample(await scrape(), 'db_pool_waiting_clients', primary)).toBe(0);
  });
});

describe('L1 cache metrics', () => {
  it('counts the entries and approximate bytes of L1, which grow with a cached read', async () => {
    const user = await newUser(app);
    const task = (
      await user.call({ method: 'POST', url: '/v1/tasks', payload: { title: 'x'.repeat(200) } })
    ).json() as { id: string };
    const before = await scrape();
    expect((await user.call({ method: 'GET', url: `/v1/tasks/${task.id}` })).statusCode).toBe(200);
    const after = await scrape();
    expect(sample(after, 'tasks_l1_entries')).toBeGreaterThan(sample(before, 'tasks_l1_entries')!);
    // At least the cached JSON of the task: its 200-character title.
    expect(sample(after, 'tasks_l1_bytes')! - sample(before, 'tasks_l1_bytes')!).toBeGreaterThan(200);
    expect(sample(after, 'tasks_l1_entries')).toBe(app.cache.l1Size);
  });
});
