// Realistic data for the benchmark, written straight into the databases (not through the API: 100,000
// creates would take minutes and measure nothing we want). Users are real accounts (argon2id hash of one
// local-only password); tasks spread over several monthly partitions, with the per-owner counts kept by
// the schema's own trigger. A second run on the same stack reuses what is there.
import { hashPassword } from '@taskfleet/users';
import pg from 'pg';
import { PICKER_FUNCTIONS, UUIDV7_NOW_FUNCTION } from './pgbench.ts';

export const BENCH_EMAIL_DOMAIN = 'bench.taskfleet.test';
/** Local use only: the benchmark's accounts live in a throwaway stack. */
const BENCH_PASSWORD = 'bench-password-local-only';

export interface SeedOptions {
  adminUrl: string;
  appUser: string;
  users: number;
  tasks: number;
  /** Months back the tasks' ids (and so their partitions) spread over. */
  months: number;
  progress: (message: string) => void;
}

export interface SeedReport {
  users: number;
  tasks: number;
  partitions: number;
  seconds: number;
}

/** A UUIDv7 of time `ts` (an SQL expression): the partition key encodes the month a task was made. */
const uuidv7At = (ts: string) =>
  `(lpad(to_hex(floor(extract(epoch from ${ts}) * 1000)::bigint), 12, '0') || '7' ||
    substr(md5(random()::text), 1, 3) || '8' || substr(md5(random()::text), 1, 15))::uuid`;

export async function seed(opts: SeedOptions): Promise<SeedReport> {
  const started = Date.now();
  const db = new pg.Client({ connectionString: opts.adminUrl });
  await db.connect();
  try {
    await db.query(`create schema if not exists taskfleet_bench`);
    // pgbench's ceilings pick rows by number from these (see pgbench.ts).
    await db.query(
      `create table if not exists taskfleet_bench.owners (n int primary key, id uuid not null unique)`,
    );
    await db.query(
      `create table if not exists taskfleet_bench.keys (n int primary key, owner_id uuid not null, id uuid not null)`,
    );
    for (const fn of [UUIDV7_NOW_FUNCTION, ...PICKER_FUNCTIONS]) await db.query(fn);
    await db.query(`grant usage on schema taskfleet_bench to ${pg.escapeIdentifier(opts.appUser)}`);
    await db.query(
      `grant select on all tables in schema taskfleet_bench to ${pg.escapeIdentifier(opts.appUser)}`,
    );

    const users = await ensureUsers(db, opts);
    const tasks = await ensureTasks(db, opts);
    const { rows } = await db.query<{ n: string }>(
      `select count(*) as n from pg_inherits where inhparent = 'tasks'::regclass`,
    );
    return { users, tasks, partitions: Number(rows[0]!.n), seconds: (Date.now() - started) / 1000 };
  } finally {
    await db.end();
  }
}

async function ensureUsers(db: pg.Client, opts: SeedOptions): Promise<number> {
  // Distinct accounts numbered once each (stacks seeded by an earlier version could number one twice).
  const have = await count(
    db,
    'select case when count(*) = count(distinct id) then count(*) else 0 end as n from taskfleet_bench.owners',
  );
  if (have >= opts.users) return have;
  opts.progress(`seeding ${opts.users} users`);
  const hash = await hashPassword(BENCH_PASSWORD);
  await db.query('begin');
  await db.query(
    `insert into users.users (id, email, password_hash)
     select gen_random_uuid(), 'bench-' || n || '@${BENCH_EMAIL_DOMAIN}', $2
       from generate_series(1, $1) n
     on conflict do nothing`,
    [opts.users, hash],
  );
  // Numbered afresh from every bench account: a larger seed over a smaller one must neither skip an
  // account nor number one twice (a task listed twice would get two version counters in the client).
  await db.query('truncate taskfleet_bench.owners');
  await db.query(
    `insert into taskfleet_bench.owners (n, id)
     select row_number() over (order by email), id from users.users where email like '%@${BENCH_EMAIL_DOMAIN}'`,
  );
  await db.query('commit');
  return count(db, 'select count(*) as n from taskfleet_bench.owners');
}

async function ensureTasks(db: pg.Client, opts: SeedOptions): Promise<number> {
  const have = await count(db, 'select count(*) as n from taskfleet_bench.keys');
  if (have >= opts.tasks) return have;
  await db.query('select taskfleet_ensure_partitions(3, $1)', [opts.months]);
  const batch = 20_000;
  for (let done = have; done < opts.tasks; done += batch) {
    const n = Math.min(batch, opts.tasks - done);
    opts.progress(
      `seeding tasks ${done.toLocaleString('en')}–${(done + n).toLocaleString('en')} of ${opts.tasks.toLocaleString('en')}`,
    );
    // Owners uniformly at random (≈ tasks/users each), times spread over the last `months` months;
    // statuses, priorities, due dates and tags mixed so every list filter finds rows.
    await db.query(
      `with picks as (
         select 1 + floor(random() * $2)::int as owner_n,
                now() - random() * make_interval(days => $3 * 30) as created,
                g
           from generate_series(1, $1) g),
       src as (select o.id as owner_id, p.created, p.g from picks p join taskfleet_bench.owners o on o.n = p.owner_n)
       insert into tasks (id, owner_id, title, description, status, priority, due_date, tags, created_at, updated_at)
       select ${uuidv7At('created')}, owner_id,
              'Task ' || g || ' ' || (array['review','write','plan','call','fix','ship'])[1 + floor(random() * 6)::int],
              repeat('Details of the task. ', floor(random() * 8)::int),
              (array['todo','in_progress','done'])[1 + floor(random() * 3)::int],
              (array['low','medium','high','urgent'])[1 + floor(random() * 4)::int],
              case when random() < 0.7 then created + random() * interval '60 days' end,
              case floor(random() * 5)::int when 0 then '{work}'::text[] when 1 then '{home}' when 2 then '{work,urgent}'
                when 3 then '{errand}' else '{}' end,
              created, created
         from src`,
      [n, opts.users, opts.months],
    );
  }
  await db.query('truncate taskfleet_bench.keys');
  await db.query(
    `insert into taskfleet_bench.keys (n, owner_id, id)
     select row_number() over (order by t.id), t.owner_id, t.id
       from tasks t join taskfleet_bench.owners o on o.id = t.owner_id`,
  );
  await db.query('analyze tasks');
  await db.query('analyze taskfleet_bench.keys');
  return count(db, 'select count(*) as n from taskfleet_bench.keys');
}

async function count(db: pg.Client, sql: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>(sql);
  return Number(rows[0]!.n);
}

export interface Dataset {
  users: { id: string; authorization: string }[];
  /** Every task of the bench users, with its owner (index into `users`) and current version. */
  tasks: { id: string; owner: number; version: number }[];
}

/** The seeded users (with access tokens valid for `tokenTtlS`) and their tasks as they are now. */
export async function loadDataset(
  adminUrl: string,
  mintToken: (userId: string) => Promise<string>,
): Promise<Dataset> {
  const db = new pg.Client({ connectionString: adminUrl });
  await db.connect();
  try {
    const owners = (await db.query<{ id: string }>('select id from taskfleet_bench.owners order by n')).rows;
    const index = new Map(owners.map((o, i) => [o.id, i]));
    const users = await Promise.all(
      owners.map(async (o) => ({ id: o.id, authorization: `Bearer ${await mintToken(o.id)}` })),
    );
    const rows = (
      await db.query<{ id: string; owner_id: string; version: number }>(
        'select t.id, t.owner_id, t.version from tasks t join taskfleet_bench.owners o on o.id = t.owner_id',
      )
    ).rows;
    return {
      users,
      tasks: rows.map((r) => ({ id: r.id, owner: index.get(r.owner_id)!, version: r.version })),
    };
  } finally {
    await db.end();
  }
}
