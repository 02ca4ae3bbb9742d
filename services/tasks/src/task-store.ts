// The tasks data path: what a read or a write involves beyond its SQL — which node may answer the
// caller (read-your-writes), the two cache levels in front of the database, and after a commit the
// caller's consistency position and the invalidation of every cached copy. Routes translate HTTP to
// these calls and back; they never touch a pool, a cache key or Redis.
import { createHash } from 'node:crypto';
import type { Kind, TaskCache } from './cache/task-cache.ts';
import type { Cursor, Sort } from './cursor.ts';
import type { Database, Queryable, Written } from './plugins/database.ts';
import type { Metrics } from './plugins/metrics.ts';
import type { Summary, Task, TaskCreate, TaskPatch } from './schemas.ts';
import type {
  Conditional,
  Created,
  EventContext,
  IdempotencyClaim,
  ListFilters,
} from './tasks-repository.ts';
import { createTask, deleteTask, getTask, listTasks, summarize, updateTask } from './tasks-repository.ts';

/** Who is asking: the verified owner, and the consistency token they sent back (if any). */
export interface Caller {
  owner: string;
  token: bigint | null;
}

export interface ListRequest {
  filters: ListFilters;
  sort: Sort;
  position: Cursor | undefined;
  pageSize: number;
  /** The cursor as sent: part of the cache key (same request, same key). */
  cursor: string | undefined;
}

export class TaskStore {
  readonly #db: Database;
  readonly #cache: TaskCache;
  readonly #metrics: Metrics;

  constructor(opts: { db: Database; cache: TaskCache; metrics: Metrics }) {
    this.#db = opts.db;
    this.#cache = opts.cache;
    this.#metrics = opts.metrics;
  }

  /** The task, or null when the caller has none with that id (a missing task is cached too). */
  get(caller: Caller, id: string): Promise<Task | null> {
    const key = this.#cache.keys.task(caller.owner, id);
    return this.#read(caller, 'task', key, async (db) => (await getTask(db, caller.owner, id)) ?? null);
  }

  async list(caller: Caller, request: ListRequest): Promise<{ items: Task[]; next: Cursor | null }> {
    const { filters, sort, position, pageSize, cursor } = request;
    // Both lookups are independent Redis reads: issued together, they leave in one round trip.
    const [generation, minLsn] = await Promise.all([
      this.#cache.generation(caller.owner),
      this.#db.minLsnFor(caller.owner, caller.token),
    ]);
    const key =
      generation === undefined
        ? undefined
        : this.#cache.keys.list(caller.owner, generation, listKey({ ...filters, sort, cursor, pageSize }));
    return this.#readAt(minLsn, 'list', key, (db) =>
      listTasks(db, caller.owner, filters, sort, position, pageSize),
    );
  }

  async summary(caller: Caller): Promise<Summary> {
    const [generation, minLsn] = await Promise.all([
      this.#cache.generation(caller.owner),
      this.#db.minLsnFor(caller.owner, caller.token),
    ]);
    const key = generation === undefined ? undefined : this.#cache.keys.summary(caller.owner, generation);
    return this.#readAt(minLsn, 'summary', key, (db) => summarize(db, caller.owner));
  }

  /** A create, at most once per Idempotency-Key: a replay changes nothing, so it invalidates nothing. */
  async create(
    owner: string,
    input: TaskCreate,
    event: EventContext,
    claim: IdempotencyClaim | undefined,
  ): Promise<Written<Created>> {
    const written = await this.#db.write((db) => createTask(db, owner, input, event, claim));
    const created = written.result;
    if (created.outcome === 'replayed') this.#metrics.idempotentReplays.inc();
    if (created.outcome !== 'key_reused')
      await this.#afterWrite(owner, created.task.id, written, created.outcome === 'created');
    return written;
  }

  async update(
    owner: string,
    id: string,
    version: number,
    patch: TaskPatch,
    event: EventContext,
  ): Promise<Written<Conditional<Task>>> {
    const written = await this.#db.write((db) => updateTask(db, owner, id, version, patch, event));
    if (written.result.ok) await this.#afterWrite(owner, id, written, true);
    return written;
  }

  async remove(
    owner: string,
    id: string,
    version: number | undefined,
    event: EventContext,
  ): Promise<Written<Conditional<{ version: number }>>> {
    const written = await this.#db.write((db) => deleteTask(db, owner, id, version, event));
    if (written.result.ok) await this.#afterWrite(owner, id, written, true);
    return written;
  }

  async #read<T>(caller: Caller, kind: Kind, key: string, load: (db: Queryable) => Promise<T>): Promise<T> {
    return this.#readAt(await this.#db.minLsnFor(caller.owner, caller.token), kind, key, load);
  }

  /**
   * A read through the caches — or straight to the database when the caller's last write is unknown
   * (token store down), since no cached entry can then be proven fresh enough for them.
   */
  async #readAt<T>(
    minLsn: bigint | null | undefined,
    kind: Kind,
    key: string | undefined,
    load: (db: Queryable) => Promise<T>,
  ): Promise<T> {
    if (minLsn === undefined || key === undefined) return (await this.#db.readAt(minLsn, load)).value;
    return this.#cache.get(kind, key, minLsn, (floor) => this.#db.readAt(floor, load));
  }

  /**
   * After a commit: steer the owner's reads past it, and — when it changed something — invalidate every
   * cached copy. Independent Redis writes, sent together (one round trip with auto-pipelining).
   */
  async #afterWrite(owner: string, taskId: string, written: Written<unknown>, changed: boolean) {
    await Promise.all([
      written.lsn === null ? undefined : this.#db.recordWrite(owner, written.lsn),
      changed ? this.#cache.afterWrite(owner, taskId, written.lsn) : undefined,
    ]);
  }
}

/** A stable key for one list request: same filters, sort, position and size → same key. */
function listKey(query: Record<string, unknown>): string {
  const canonical = JSON.stringify(
    Object.keys(query)
      .sort()
      .map((k) => [k, query[k] ?? null]),
  );
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 22);
}
