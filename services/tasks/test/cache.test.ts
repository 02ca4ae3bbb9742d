// The two cache levels against real Redis and Postgres: single-flight under a stampede, bounded L1,
// hit ratio under a Zipf-distributed read load, and that caching never breaks read-your-writes.
import { waitFor } from '@taskfleet/infra';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, newUser } from './helper.ts';

let app: FastifyInstance;
beforeAll(async () => {
  app = await build({ CACHE_L1_MAX_ENTRIES: '500' });
  // L1 is used only while the invalidation channel is up.
  await waitFor('the invalidation channel up', () => app.events.connected);
});
afterAll(async () => {
  await app.close();
});

async function counters(): Promise<Record<string, number>> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(tasks_(?:cache_\w+|db_reads)_total)\{([^}]*)\} (\d+)/gm))
    out[`${m[1]}{${m[2]}}`] = Number(m[3]);
  return out;
}
const total = (c: Record<string, number>, name: string, filter = '') =>
  Object.entries(c)
    .filter(([k]) => k.startsWith(`${name}{`) && k.includes(filter))
    .reduce((a, [, v]) => a + v, 0);

describe('two-level cache', () => {
  it('serves 200 concurrent misses of one hot key with one database load', async () => {
    const user = await newUser(app);
    const task = (await user.call({ method: 'POST', url: '/v1/tasks', payload: { title: 'hot' } })).json();
    const before = await counters();
    const responses = await Promise.all(
      Array.from({ length: 200 }, () => user.call({ method: 'GET', url: `/v1/tasks/${task.id}` })),
    );
    expect(new Set(responses.map((r) => r.statusCode))).toEqual(new Set([200]));
    expect(new Set(responses.map((r) => r.json().version))).toEqual(new Set([1]));
    const after = await counters();
    expect(total(after, 'tasks_db_reads_total') - total(before, 'tasks_db_reads_total')).toBe(1);
  });

  it('keeps L1 bounded (LRU eviction past its 500 entries)', async () => {
    const user = await newUser(app);
    await user.call({ method: 'POST', url: '/v1/tasks', payload: { title: 'one' } });
    await new Promise((r) => setTimeout(r, 300));
    // 600 distinct list requests: 600 cache keys.
    for (const sort of ['created', 'due']) {
      for (const status of ['todo', 'in_progress', 'done']) {
        for (let limit = 1; limit <= 100; limit++) {
          expect(
            (
              await user.call({
                method: 'GET',
                url: `/v1/tasks?sort=${sort}&status=${status}&limit=${limit}`,
              })
            ).statusCode,
          ).toBe(200);
        }
      }
    }
    expect(app.cache.l1Size).toBeLessThanOrEqual(500);
    expect(total(await counters(), 'tasks_cache_evictions_total', 'reason="capacity"')).toBeGreaterThan(0);
  });

  it('shows the writer their change at once, cached or not', async () => {
    const user = await newUser(app);
    const task = (await user.call({ method: 'POST', url: '/v1/tasks', payload: { title: 'v1' } })).json();
    let version = 1;
    for (let i = 0; i < 50; i++) {
      await user.call({ method: 'GET', url: `/v1/tasks/${task.id}` }); // (re)fill the caches
      await user.call({ method: 'GET', url: '/v1/tasks' });
      const res = await user.call({
        method: 'PATCH',
        url: `/v1/tasks/${task.id}`,
        headers: { 'if-match': `"${version}"` },
        payload: { title: `v${version + 1}` },
      });
      version = res.json().version;
      expect((await user.call({ method: 'GET', url: `/v1/tasks/${task.id}` })).json().version).toBe(version);
      expect((await user.call({ method: 'GET', url: '/v1/tasks' })).json().items[0].version).toBe(version);
      expect((await user.call({ method: 'GET', url: '/v1/tasks/summary' })).json().total).toBe(1);
    }
  });

  it('reports its hit ratio under a Zipf-distributed read load (s = 1.1)', async () => {
    const users = await Promise.all(Array.from({ length: 10 }, () => newUser(app)));
    const keys: { user: (typeof users)[number]; id: string }[] = [];
    for (const user of users) {
      for (let i = 0; i < 20; i++)
        keys.push({
          user,
          id: (await user.call({ method: 'POST', url: '/v1/tasks', payload: { title: `z${i}` } })).json().id,
        });
    }
    // Zipf over the 200 keys: P(rank k) ∝ 1 / k^1.1, sampled by inverse CDF with a fixed seed.
    const weights = keys.map((_, k) => 1 / (k + 1) ** 1.1);
    const cdf: number[] = [];
    let acc = 0;
    for (const w of weights) {
      acc += w;
      cdf.push(acc);
    }
    const norm = acc;
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31; // a fixed-seed LCG: the same load every run
      return seed / 2 ** 31;
    };
    await new Promise((r) => setTimeout(r, 300)); // past the writers' own read-your-writes window
    const before = await counters();
    for (let i = 0; i < 4_000; i++) {
      const u = random() * norm;
      const k = cdf.findIndex((c) => c >= u);
      const { user, id } = keys[k]!;
      expect((await user.call({ method: 'GET', url: `/v1/tasks/${id}` })).statusCode).toBe(200);
    }
    const after = await counters();
    const hits =
      total(after, 'tasks_cache_hits_total', 'kind="task"') -
      total(before, 'tasks_cache_hits_total', 'kind="task"');
    const l1Hits =
      total(after, 'tasks_cache_hits_total', 'layer="l1",kind="task"') -
      total(before, 'tasks_cache_hits_total', 'layer="l1",kind="task"');
    const dbReads = total(after, 'tasks_db_reads_total') - total(before, 'tasks_db_reads_total');
    const ratio = hits / 4_000;
    // biome-ignore lint/suspicious/noConsole: the figure this test exists to report
    console.log(
      `Zipf(1.1) over 200 tasks, 4,000 reads: hit ratio ${(ratio * 100).toFixed(1)}% (L1 ${l1Hits}, L2 ${hits - l1Hits}), database reads ${dbReads}`,
    );
    // Every key misses at most once (its first read); everything else is a hit.
    expect(dbReads).toBeLessThanOrEqual(keys.length);
    expect(hits + dbReads).toBe(4_000);
  });
});
