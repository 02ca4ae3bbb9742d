// The queries the service really runs (captured from the repository), EXPLAINed against a realistic
// table: each list shape is served by its index, and a lookup by id touches one partition.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cursor } from '../src/cursor.ts';
import type { ListFilters } from '../src/tasks-repository.ts';
import { getTask, listTasks } from '../src/tasks-repository.ts';
import { ensureMigrated, stack } from './helper.ts';

const OWNERS = 300; // other users, 60 tasks each: the table is not just the owner under test
const PER_OWNER = 60;
const owner = randomUUID();
let pool: pg.Pool;
let populated: string[] = [];

/** Run a repository function against a recorder, then EXPLAIN every statement it issued. */
async function plansOf(run: (db: Pick<pg.Pool, 'query'>) => Promise<unknown>): Promise<string[]> {
  const statements: { sql: string; params: unknown[] }[] = [];
  const recorder = {
    query: async (sql: string, params: unknown[] = []) => {
      statements.push({ sql, params });
      return { rows: [], rowCount: 0 };
    },
  } as unknown as Pick<pg.Pool, 'query'>;
  await run(recorder);
  const plans: string[] = [];
  for (const s of statements) {
    const r = await pool.query<{ 'QUERY PLAN': string }>(`explain ${s.sql}`, s.params);
    plans.push(r.rows.map((row) => row['QUERY PLAN']).join('\n'));
  }
  return plans;
}

const partitionsScanned = (plan: string) => new Set(plan.match(/ on tasks_p\d{4}_\d{2}/g) ?? []).size;

beforeAll(async () => {
  await ensureMigrated();
  pool = new pg.Pool({ ...stack.viaPgbouncer('primary'), max: 2 });
  // 18,000 tasks of 300 other owners, spread over last month and this one (two partitions).
  await pool.query(
    `insert into tasks (id, owner_id, title, description, status, priority, due_date, tags, created_at, updated_at)
     select (lpad(to_hex(floor(extract(epoch from t) * 1000)::bigint), 12, '0') || '7' || substr(md5(random()::text), 1, 19))::uuid,
            md5('owner' || o || $1)::uuid,
            'task ' || i, 'details ' || i,
            (array['todo','in_progress','done'])[1 + i % 3], (array['low','medium','high','urgent'])[1 + i % 4],
            case when i % 4 = 0 then null else now() + make_interval(days => i) end,
            array['t' || (i % 50)], t, t
       from generate_series(0, ${OWNERS - 1}) o, generate_series(1, ${PER_OWNER}) i,
            lateral (select date_trunc('month', now()) - interval '10 days' + make_interval(days => i % 20, secs => o) as t) ts`,
    [owner],
  );
  // The owner under test is a heavy user (6,000 tasks) for whom 1% carry the tag or the words searched:
  // the case the GIN indexes exist for.
  await pool.query(
    `insert into tasks (id, owner_id, title, description, status, priority, due_date, tags, created_at, updated_at)
     select (lpad(to_hex(floor(extract(epoch from t) * 1000)::bigint), 12, '0') || '7' || substr(md5(random()::text), 1, 19))::uuid,
            $1::uuid, 'chore ' || i || case when i % 100 = 0 then ' quarterly report' else '' end, 'details ' || i,
            (array['todo','in_progress','done'])[1 + i % 3], (array['low','medium','high','urgent'])[1 + i % 4],
            case when i % 4 = 0 then null else now() + make_interval(days => i % 400) end,
            case when i % 100 = 0 then array['work'] else array['home'] end, t, t
       from generate_series(1, 6000) i,
            lateral (select date_trunc('month', now()) - interval '10 days' + make_interval(days => i % 20, secs => i) as t) ts`,
    [owner],
  );
  await pool.query('analyze tasks');
  const r = await pool.query<{ name: string }>('select distinct tableoid::regclass::text as name from tasks');
  populated = r.rows.map((row) => row.name);
  expect(populated.length).toBeGreaterThanOrEqual(2);
});
afterAll(async () => {
  await pool?.end();
});

describe('query plans', () => {
  it('creates partitions ahead, monthly, by id range', async () => {
    const r = await pool.query<{ name: string }>(
      "select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'tasks'::regclass order by 1",
    );
    expect(r.rows.length).toBeGreaterThanOrEqual(5); // last month, this month, 3 ahead
    const created = await pool.query<{ n: number }>('select taskfleet_ensure_partitions(6) as n');
    expect(created.rows[0]!.n).toBe(3); // only the missing months 4–6 ahead
    expect((await pool.query<{ n: number }>('select taskfleet_ensure_partitions(6) as n')).rows[0]!.n).toBe(
      0,
    );
  });

  it('looks a task up by id in exactly one partition, through the primary key', async () => {
    const { rows } = await pool.query<{ id: string }>('select id from tasks where owner_id = $1 limit 1', [
      owner,
    ]);
    const [plan] = await plansOf((db) => getTask(db, owner, rows[0]!.id));
    expect(partitionsScanned(plan!)).toBe(1);
    expect(plan).toMatch(/Index (Only )?Scan using tasks_p\d{4}_\d{2}_pkey/);
  });

  const shapes: [string, ListFilters, Cursor['sort'], RegExp][] = [
    ['newest first', {}, 'created', /Index Scan Backward using tasks_p\d{4}_\d{2}_pkey/],
    ['by status', { status: 'done' }, 'created', /using tasks_p\d{4}_\d{2}_owner_id_status_id_idx/],
    ['by priority', { priority: 'urgent' }, 'created', /using tasks_p\d{4}_\d{2}_owner_id_priority_id_idx/],
    ['by tag', { tag: 'work' }, 'created', /Bitmap Index Scan on tasks_p\d{4}_\d{2}_owner_id_tags_idx/],
    ['full-text', { q: 'quarterly report' }, 'created', /Bitmap Index Scan on tasks_p\d{4}_\d{2}_search_idx/],
    ['soonest due', {}, 'due', /using tasks_p\d{4}_\d{2}_owner_id_due_date_id_idx/],
    [
      'due range',
      { dueBefore: new Date(Date.now() + 5 * 86_400_000).toISOString() },
      'due',
      /using tasks_p\d{4}_\d{2}_owner_id_due_date_id_idx/,
    ],
  ];
  it.each(shapes)(
    'serves the %s list from its index, never a sequential scan',
    async (_, filters, sort, index) => {
      const plans = await plansOf((db) => listTasks(db, owner, filters, sort, undefined, 20));
      // The shape's own index serves its (first) query…
      expect(plans[0]).toMatch(index);
      for (const plan of plans) {
        // …and nothing reads a partition that holds rows sequentially (the empty months ahead are
        // "scanned" at zero cost, which is fine).
        for (const p of populated) expect(plan).not.toContain(`Seq Scan on ${p} `);
      }
    },
  );

  it('keeps the next page on the index too (keyset, no OFFSET)', async () => {
    const { rows } = await pool.query<{ id: string }>(
      'select id from tasks where owner_id = $1 order by id desc offset 20 limit 1',
      [owner],
    );
    const [plan] = await plansOf((db) =>
      listTasks(db, owner, {}, 'created', { sort: 'created', id: rows[0]!.id }, 20),
    );
    expect(plan).not.toMatch(/OFFSET/i);
    for (const p of populated) expect(plan).not.toContain(`Seq Scan on ${p} `);
    expect(plan).toMatch(/Index Cond: \(\(owner_id = .*\) AND \(id < /);
  });
});
