// The migration runner against a real Postgres: idempotent, one runner at a time, refuses edited or
// unknown migrations, and a failing migration leaves nothing behind.
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { queryOnce } from '@taskfleet/infra';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, migrate } from '../src/db/migrate.ts';
import { stack } from './helper.ts';

const { primary, appUser, adminPassword, appPassword } = stack.state.endpoints.postgres;
const admin = { ...primary, password: adminPassword };
const db = `${stack.database}_migrate`;
const url = `postgres://${appUser}${appPassword ? `:${appPassword}` : ''}@${primary.host}:${primary.port}/${db}`;
const scratch = mkdtempSync(join(tmpdir(), 'taskfleet-migrations-'));
// What the code ships ("0002_outbox.sql" → "2_outbox"), and the number a new migration would take.
const shipped = readdirSync(MIGRATIONS_DIR)
  .filter((f) => f.endsWith('.sql'))
  .sort()
  .map((f) => f.replace(/^0*(\d+)_(.*)\.sql$/, '$1_$2'));
const next = String(shipped.length + 1).padStart(4, '0');

beforeEach(async () => {
  await queryOnce(admin, `drop database if exists ${db} with (force)`);
  await queryOnce(admin, `create database ${db} owner ${appUser}`);
});
afterAll(async () => {
  await queryOnce(admin, `drop database if exists ${db} with (force)`);
  rmSync(scratch, { recursive: true, force: true });
});

function migrationsWith(extra: Record<string, string>): string {
  const dir = mkdtempSync(join(scratch, 'set-'));
  for (const f of readdirSync(MIGRATIONS_DIR)) copyFileSync(join(MIGRATIONS_DIR, f), join(dir, f));
  for (const [name, sql] of Object.entries(extra)) writeFileSync(join(dir, name), sql);
  return dir;
}

describe('migrate', () => {
  it('applies once; a second run changes nothing', async () => {
    const first = await migrate(url);
    expect(first.applied).toEqual(shipped);
    const second = await migrate(url);
    expect(second.applied).toEqual([]);
    expect(second.partitionsCreated).toBe(0);
  });

  it('lets concurrent runners (replicas racing at deploy) apply each migration exactly once', async () => {
    const results = await Promise.all([migrate(url), migrate(url), migrate(url)]);
    expect(results.flatMap((r) => r.applied)).toEqual(shipped);
    const rows = await queryOnce({ ...admin, database: db }, 'select version from schema_migrations');
    expect(rows.rowCount).toBe(shipped.length);
  });

  it('refuses a migration edited after it was applied', async () => {
    await migrate(url);
    const dir = migrationsWith({});
    writeFileSync(join(dir, '0001_tasks.sql'), '-- edited\nselect 1;');
    await expect(migrate(url, { dir })).rejects.toThrow(/changed after it was applied/);
  });

  it('rolls a failing migration back completely and reports it', async () => {
    const dir = migrationsWith({
      [`${next}_broken.sql`]: 'create table half_done (id int);\nselect * from no_such_table;',
    });
    await expect(migrate(url, { dir })).rejects.toThrow(
      new RegExp(`migration ${shipped.length + 1}_broken failed: relation "no_such_table" does not exist`),
    );
    const t = await queryOnce(
      { ...admin, database: db },
      "select to_regclass('half_done') as t, (select max(version) from schema_migrations) as v",
    );
    expect(t.rows[0]).toEqual({ t: null, v: shipped.length });
  });

  it('refuses to run when the database is ahead of the code', async () => {
    await migrate(url, { dir: migrationsWith({ [`${next}_more.sql`]: 'select 1;' }) });
    await expect(migrate(url)).rejects.toThrow(/this code does not know/);
  });

  it('exits non-zero from the command line on failure', async () => {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(
      process.execPath,
      ['--conditions=@taskfleet/source', join(MIGRATIONS_DIR, '..', 'src', 'migrate-cli.ts')],
      {
        env: {
          ...process.env,
          DATABASE_MIGRATION_URL: `postgres://${appUser}@${primary.host}:${primary.port}/no_such_database`,
        },
        encoding: 'utf8',
      },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no_such_database/);
  });
});
