// Upkeep of the tasks database, in one place: monthly partitions created ahead, sent outbox rows and
// expired Idempotency-Keys removed. The migrations run `ensurePartitions` after they apply, a create
// that finds no partition heals with it, and the worker runs `maintainTasksDatabase` on a timer
// (ADR 0010: the worker works on the task service's database, through these functions only).
import type pg from 'pg';

type Queryable = Pick<pg.Pool, 'query'>;

/** Keys removed per statement: each batch is its own short transaction, so creates never wait long. */
const KEY_EXPIRY_BATCH = 5_000;
/** Batches per pass at the most; the next pass goes on where this one stopped. */
const KEY_EXPIRY_BATCHES = 100;
const OUTBOX_DELETE_BATCH = 10_000;

/** Partitions for this month and the months ahead (the SQL function decides how many); how many were new. */
export async function ensurePartitions(db: Queryable): Promise<number> {
  return (await db.query<{ n: number }>('select taskfleet_ensure_partitions() as n')).rows[0]!.n;
}

export interface MaintenanceResult {
  partitionsCreated: number;
  outboxRowsDeleted: number;
  idempotencyKeysExpired: number;
}

export async function maintainTasksDatabase(
  db: Queryable,
  retention: { outboxHours: number; idempotencyKeyHours: number },
): Promise<MaintenanceResult> {
  const partitionsCreated = await ensurePartitions(db);
  const outbox = await db.query(
    `delete from outbox where seq in (
       select seq from outbox where sent_at < now() - make_interval(hours => $1) limit $2)`,
    [retention.outboxHours, OUTBOX_DELETE_BATCH],
  );
  // Batch after batch until one comes back short (or a pass's worth): SKIP LOCKED inside the function,
  // so a key a create is using right now is left for the next pass.
  let idempotencyKeysExpired = 0;
  for (let batch = 0; batch < KEY_EXPIRY_BATCHES; batch++) {
    const r = await db.query<{ n: number }>(
      'select taskfleet_expire_idempotency_keys(make_interval(hours => $1), $2) as n',
      [retention.idempotencyKeyHours, KEY_EXPIRY_BATCH],
    );
    idempotencyKeysExpired += r.rows[0]!.n;
    if (r.rows[0]!.n < KEY_EXPIRY_BATCH) break;
  }
  return { partitionsCreated, outboxRowsDeleted: outbox.rowCount ?? 0, idempotencyKeysExpired };
}
