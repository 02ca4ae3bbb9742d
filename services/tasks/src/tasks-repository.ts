// SQL for tasks. Every statement is scoped to its owner; the caller decides which pool (primary or a
// replica) runs it. No named prepared statements: PgBouncer 1.18 in transaction mode breaks them.
import type pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import type { Cursor, Sort } from './cursor.ts';
import { ensurePartitions } from './db/maintenance.ts';
import type { ListQuery, Summary, Task, TaskCreate, TaskPatch } from './schemas.ts';
import { PRIORITIES, STATUSES } from './schemas.ts';

type Queryable = Pick<pg.Pool, 'query'>;

const COLUMNS = 'id, title, description, status, priority, due_date, tags, version, created_at, updated_at';

interface TaskRow {
  id: string;
  title: string;
  description: string;
  status: Task['status'];
  priority: Task['priority'];
  due_date: Date | null;
  tags: string[];
  version: number;
  created_at: Date;
  updated_at: Date;
}

const toTask = (r: TaskRow): Task => ({
  id: r.id,
  title: r.title,
  description: r.description,
  status: r.status,
  priority: r.priority,
  dueDate: r.due_date?.toISOString() ?? null,
  tags: r.tags,
  version: r.version,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

/** Due dates are kept at millisecond precision so a cursor (a JS date) reproduces them exactly. */
const normalizeDue = (due: string | null | undefined) =>
  due === undefined || due === null ? due : new Date(due).toISOString();

const isMissingPartition = (err: unknown) =>
  (err as { message?: string }).message?.includes('no partition of relation') === true;

/** What a write's event carries besides the row: the trace it belongs to. */
export interface EventContext {
  traceparent?: string | undefined;
}

/**
 * Wrap a row-changing statement (which must return id, version and owner_id) so that the same statement
 * inserts its outbox event: one statement, one transaction — the event exists exactly when the change
 * committed. The event id and traceparent are the two parameters after the statement's own.
 * `also`: further CTEs over `changed`, given the number of the first parameter after those two.
 */
function withEvent(
  type: 'task.created' | 'task.updated' | 'task.deleted',
  statement: string,
  params: unknown[],
  event: EventContext,
  also?: { cte: (next: number) => string; values: unknown[] },
) {
  const n = params.length;
  const ctes = [
    `changed as (${statement})`,
    `event as (insert into outbox (event_id, type, owner_id, task_id, version, traceparent)
              select $${n + 1}, '${type}', owner_id, id, version, $${n + 2} from changed)`,
    ...(also ? [also.cte(n + 3)] : []),
  ];
  const text = `with ${ctes.join(',\n    ')}\n    select * from changed`;
  return { text, values: [...params, uuidv7(), event.traceparent ?? null, ...(also?.values ?? [])] };
}

/** A create's Idempotency-Key (ADR 0009): digests of the key and of the request it was sent with. */
export interface IdempotencyClaim {
  key: Buffer;
  fingerprint: Buffer;
}

/** What a create with a key did: ran, or found the key's first answer (or found it used otherwise). */
export type Created =
  | { outcome: 'created'; task: Task }
  | { outcome: 'replayed'; task: Task }
  | { outcome: 'key_reused' };

/**
 * The statement (and its values) that creates a task with its event — and, given a key, the key's row
 * holding the task as answered, so the key exists exactly when the task does. The benchmark runs the
 * same text.
 */
export function createTaskQuery(
  owner: string,
  input: TaskCreate,
  event: EventContext = {},
  idempotency?: IdempotencyClaim,
  now = new Date(),
) {
  const params = [
    uuidv7({ msecs: now.getTime() }),
    owner,
    input.title,
    input.description ?? '',
    input.status ?? 'todo',
    input.priority ?? 'medium',
    normalizeDue(input.dueDate) ?? null,
    input.tags ?? [],
    now,
  ];
  return withEvent(
    'task.created',
    `insert into tasks (id, owner_id, title, description, status, priority, due_date, tags, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) returning ${COLUMNS}, owner_id`,
    params,
    event,
    idempotency && { cte: keyedInsert, values: [idempotency.key, idempotency.fingerprint] },
  );
}

/** The key's row, holding the task as answered (the row as inserted, less the owner it is keyed by). */
const keyedInsert = (k: number) =>
  `keyed as (insert into idempotency_keys (owner_id, key_digest, fingerprint, task_id, task_snapshot)
              select owner_id, $${k}, $${k + 1}, id, to_jsonb(changed) - 'owner_id' from changed)`;

/** A second create with a key loses on the key's primary key, after the first has committed. */
const isKeyTaken = (err: unknown) => (err as { constraint?: string }).constraint === 'idempotency_keys_pkey';

/** The task as a row snapshot (jsonb) holds it: timestamps as text. */
const fromSnapshot = (row: Record<string, unknown>): Task =>
  toTask({
    ...(row as unknown as TaskRow),
    due_date: row.due_date === null ? null : new Date(row.due_date as string),
    created_at: new Date(row.created_at as string),
    updated_at: new Date(row.updated_at as string),
  });

/**
 * Create a task. With a key, at most once per owner and key: a create whose key is already recorded
 * inserts nothing and returns the task as it was first answered — or `key_reused` when the key was
 * first sent with another request. A concurrent create with the same key waits on the key's row and
 * then finds it (or, if the first rolled back, inserts after all).
 */
export async function createTask(
  db: Queryable,
  owner: string,
  input: TaskCreate,
  event: EventContext = {},
  idempotency?: IdempotencyClaim,
): Promise<Created> {
  const query = createTaskQuery(owner, input, event, idempotency);
  const insert = async () => toTask((await db.query<TaskRow>(query.text, query.values)).rows[0]!);
  for (let attempt = 1; ; attempt++) {
    try {
      return { outcome: 'created', task: await insert() };
    } catch (err) {
      if (idempotency && isKeyTaken(err)) {
        const first = await firstAnswer(db, owner, idempotency);
        if (first) return first;
        // Gone between the conflict and the read (retention removes only day-old rows): run after all.
        if (attempt > 1) throw err;
        continue;
      }
      // The maintenance job keeps partitions months ahead; should it have stalled, heal, don't fail.
      if (!isMissingPartition(err) || attempt > 1) throw err;
      await ensurePartitions(db);
    }
  }
}

async function firstAnswer(
  db: Queryable,
  owner: string,
  claim: IdempotencyClaim,
): Promise<Created | undefined> {
  const r = await db.query<{ fingerprint: Buffer; task_snapshot: Record<string, unknown> }>(
    'select fingerprint, task_snapshot from idempotency_keys where owner_id = $1 and key_digest = $2',
    [owner, claim.key],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  if (!row.fingerprint.equals(claim.fingerprint)) return { outcome: 'key_reused' };
  return { outcome: 'replayed', task: fromSnapshot(row.task_snapshot) };
}

/** A task by owner and id; the benchmark's pg-read ceiling runs this same text. */
export const GET_TASK_SQL = `select ${COLUMNS} from tasks where owner_id = $1 and id = $2`;

export async function getTask(db: Queryable, owner: string, id: string): Promise<Task | undefined> {
  const r = await db.query<TaskRow>(GET_TASK_SQL, [owner, id]);
  return r.rows[0] && toTask(r.rows[0]);
}

export type Conditional<T> =
  | { ok: true; value: T }
  | { ok: false; reason: 'not_found' }
  | { ok: false; reason: 'stale'; version: number };

async function whyNot(db: Queryable, owner: string, id: string): Promise<Conditional<never>> {
  const r = await db.query<{ version: number }>('select version from tasks where owner_id = $1 and id = $2', [
    owner,
    id,
  ]);
  return r.rows[0]
    ? { ok: false, reason: 'stale', version: r.rows[0].version }
    : { ok: false, reason: 'not_found' };
}

/** Apply `patch` if the task is still at `version` (optimistic concurrency). */
export async function updateTask(
  db: Queryable,
  owner: string,
  id: string,
  version: number,
  patch: TaskPatch,
  event: EventContext = {},
): Promise<Conditional<Task>> {
  const sets: string[] = [];
  const params: unknown[] = [owner, id, version];
  const set = (column: string, value: unknown) => {
    params.push(value);
    sets.push(`${column} = $${params.length}`);
  };
  if (patch.title !== undefined) set('title', patch.title);
  if (patch.description !== undefined) set('description', patch.description);
  if (patch.status !== undefined) set('status', patch.status);
  if (patch.priority !== undefined) set('priority', patch.priority);
  if (patch.dueDate !== undefined) set('due_date', normalizeDue(patch.dueDate));
  if (patch.tags !== undefined) set('tags', patch.tags);
  const query = withEvent(
    'task.updated',
    `update tasks set ${sets.join(', ')}, version = version + 1, updated_at = clock_timestamp()
      where owner_id = $1 and id = $2 and version = $3 returning ${COLUMNS}, owner_id`,
    params,
    event,
  );
  const r = await db.query<TaskRow>(query.text, query.values);
  return r.rows[0] ? { ok: true, value: toTask(r.rows[0]) } : whyNot(db, owner, id);
}

/** Delete; with `version`, only if the task is still at that version. */
export async function deleteTask(
  db: Queryable,
  owner: string,
  id: string,
  version?: number,
  event: EventContext = {},
): Promise<Conditional<{ version: number }>> {
  const params: unknown[] = version === undefined ? [owner, id] : [owner, id, version];
  const query = withEvent(
    'task.deleted',
    `delete from tasks where owner_id = $1 and id = $2${version === undefined ? '' : ' and version = $3'}
     returning id, version, owner_id`,
    params,
    event,
  );
  const r = await db.query<{ version: number }>(query.text, query.values);
  return r.rows[0] ? { ok: true, value: { version: r.rows[0].version } } : whyNot(db, owner, id);
}

export interface ListFilters extends Omit<ListQuery, 'limit' | 'cursor' | 'sort'> {}

/** One page, newest first (sort=created) or soonest due first with undated tasks last (sort=due). */
export async function listTasks(
  db: Queryable,
  owner: string,
  filters: ListFilters,
  sort: Sort,
  cursor: Cursor | undefined,
  limit: number,
): Promise<{ items: Task[]; next: Cursor | null }> {
  const params: unknown[] = [owner];
  const where = ['owner_id = $1'];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  if (filters.status) where.push(`status = ${param(filters.status)}`);
  if (filters.priority) where.push(`priority = ${param(filters.priority)}`);
  if (filters.tag) where.push(`tags @> array[${param(filters.tag)}]::text[]`);
  if (filters.dueAfter) where.push(`due_date >= ${param(filters.dueAfter)}`);
  if (filters.dueBefore) where.push(`due_date < ${param(filters.dueBefore)}`);
  if (filters.q) where.push(`search @@ websearch_to_tsquery('english', ${param(filters.q)})`);

  const page = async (extra: string[], order: string, n: number, extraParams: unknown[]) => {
    const all = [...params, ...extraParams];
    const r = await db.query<TaskRow>(
      `select ${COLUMNS} from tasks where ${[...where, ...extra].join(' and ')} order by ${order} limit ${n}`,
      all,
    );
    return r.rows;
  };
  const at = (k: number) => `$${params.length + k}`;

  let rows: TaskRow[];
  if (sort === 'created') {
    rows = cursor
      ? await page([`id < ${at(1)}`], 'id desc', limit + 1, [cursor.id])
      : await page([], 'id desc', limit + 1, []);
  } else {
    const c = cursor?.sort === 'due' ? cursor : undefined;
    rows = [];
    // Dated tasks first, in (due_date, id) order; then the undated ones by id. Two index range scans
    // instead of one OR that no index can serve.
    if (!c || c.due !== null) {
      rows = c
        ? await page(
            ['due_date is not null', `(due_date, id) > (${at(1)}, ${at(2)})`],
            'due_date, id',
            limit + 1,
            [c.due, c.id],
          )
        : await page(['due_date is not null'], 'due_date, id', limit + 1, []);
    }
    const datedOnly = Boolean(filters.dueAfter || filters.dueBefore);
    if (rows.length <= limit && !datedOnly) {
      const undated = c?.due === null ? [`id > ${at(1)}`] : [];
      rows.push(
        ...(await page(
          ['due_date is null', ...undated],
          'id',
          limit + 1 - rows.length,
          c?.due === null ? [c.id] : [],
        )),
      );
    }
  }
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  const next: Cursor | null =
    rows.length > limit && last
      ? sort === 'created'
        ? { sort, id: last.id }
        : { sort, id: last.id, due: last.due_date?.toISOString() ?? null }
      : null;
  return { items: items.map(toTask), next };
}

export async function summarize(db: Queryable, owner: string): Promise<Summary> {
  const r = await db.query<{ status: string; priority: string; count: string }>(
    'select status, priority, count from task_counts where owner_id = $1',
    [owner],
  );
  const counts = Object.fromEntries(
    STATUSES.map((s) => [s, Object.fromEntries(PRIORITIES.map((p) => [p, 0]))]),
  ) as Summary['counts'];
  let total = 0;
  for (const row of r.rows) {
    const n = Number(row.count);
    (counts[row.status] as Record<string, number>)[row.priority] = n;
    total += n;
  }
  return { total, counts };
}

export async function currentWalLsn(db: Queryable): Promise<string> {
  return (await db.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn')).rows[0]!.lsn;
}
