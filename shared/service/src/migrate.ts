// Forward-only SQL migrations of one service: <dir>/NNNN_name.sql, applied in order, each in its own
// transaction, recorded with a checksum (in the service's own table) so an edited migration is refused
// instead of silently diverging. One runner at a time per service: a session advisory lock, so this must
// use a direct connection to the primary — never PgBouncer in transaction mode, where a session lock
// would be held by a random server connection.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export function loadMigrations(dir: string): Migration[] {
  const migrations = readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((file) => {
      const match = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
      if (!match) throw new Error(`migration file name must be NNNN_name.sql: ${file}`);
      const sql = readFileSync(join(dir, file), 'utf8');
      return {
        version: Number(match[1]),
        name: match[2]!,
        sql,
        checksum: createHash('sha256').update(sql).digest('hex'),
      };
    });
  migrations.forEach((m, i) => {
    if (m.version !== i + 1)
      throw new Error(
        `migrations must be numbered 1, 2, 3… without gaps; found ${m.version} at position ${i + 1}`,
      );
  });
  return migrations;
}

export interface MigrationSet {
  /** Folder of NNNN_name.sql files. */
  dir: string;
  /** Where applied migrations are recorded ("schema_migrations", "users.schema_migrations"). */
  table: string;
  /** Advisory lock key: one runner at a time for this set; a different key per service. */
  lockKey: number;
  /** Runs after the migrations, still under the lock (e.g. create partitions ahead). */
  after?: (client: pg.Client) => Promise<void>;
}

/** Apply the set's pending migrations. Throws on any failure; returns what was applied. */
export async function migrate(
  connectionString: string,
  set: MigrationSet,
  opts: { log?: (m: string) => void } = {},
): Promise<string[]> {
  const log = opts.log ?? (() => {});
  if (!/^([a-z_]+\.)?[a-z_]+$/.test(set.table)) throw new Error(`bad migrations table name: ${set.table}`);
  const migrations = loadMigrations(set.dir);
  const client = new pg.Client({ connectionString, application_name: 'taskfleet-migrate' });
  await client.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [set.lockKey]);
    const schema = set.table.includes('.') ? set.table.split('.')[0] : undefined;
    if (schema) await client.query(`create schema if not exists ${schema}`);
    await client.query(`create table if not exists ${set.table} (
      version int primary key, name text not null, checksum text not null, applied_at timestamptz not null default now())`);
    const done = new Map(
      (
        await client.query<{ version: number; checksum: string }>(
          `select version, checksum from ${set.table}`,
        )
      ).rows.map((r) => [r.version, r.checksum]),
    );
    for (const [version] of done) {
      if (!migrations.some((m) => m.version === version))
        throw new Error(
          `database has migration ${version}, which this code does not know: refusing to run older code's migrations`,
        );
    }
    const applied: string[] = [];
    for (const m of migrations) {
      const checksum = done.get(m.version);
      if (checksum !== undefined) {
        if (checksum !== m.checksum)
          throw new Error(
            `migration ${m.version}_${m.name} was changed after it was applied (checksum mismatch); add a new migration instead`,
          );
        continue;
      }
      log(`applying ${m.version}_${m.name}`);
      await client.query('begin');
      try {
        await client.query(m.sql);
        await client.query(`insert into ${set.table} (version, name, checksum) values ($1, $2, $3)`, [
          m.version,
          m.name,
          m.checksum,
        ]);
        await client.query('commit');
      } catch (err) {
        await client.query('rollback');
        throw new Error(`migration ${m.version}_${m.name} failed: ${(err as Error).message}`);
      }
      applied.push(`${m.version}_${m.name}`);
    }
    await set.after?.(client);
    return applied;
  } finally {
    await client.query('select pg_advisory_unlock($1)', [set.lockKey]).catch(() => {});
    await client.end();
  }
}
