import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { testStack } from '../src/vitest/index.ts';

const stack = testStack();
const { postgres, pgbouncer } = stack.state.endpoints;

async function one<T extends pg.QueryResultRow>(config: pg.ClientConfig, sql: string): Promise<T> {
  const client = new pg.Client(config);
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows[0]!;
  } finally {
    await client.end();
  }
}

describe('pgbouncer', () => {
  const nodes = [{ name: 'primary', ...postgres.primary }, ...postgres.replicas];

  it.each(nodes)('serves queries on $name, in this worker database', async (node) => {
    const row = await one<{ port: number; recovery: boolean; db: string; usr: string }>(
      stack.viaPgbouncer(node.name),
      'select inet_server_port() as port, pg_is_in_recovery() as recovery, current_database() as db, current_user as usr',
    );
    expect(row).toEqual({
      port: node.port,
      recovery: node.name !== 'primary',
      db: stack.database,
      usr: postgres.appUser,
    });
  });

  it('pools in transaction mode, behind one listener', async () => {
    const admin = {
      host: pgbouncer.host,
      port: pgbouncer.port,
      user: postgres.adminUser,
      database: 'pgbouncer',
    };
    const client = new pg.Client(admin);
    await client.connect();
    try {
      // The admin console speaks the simple query protocol only.
      const config = await client.query({ text: 'SHOW CONFIG', rowMode: 'array' });
      const modes = config.rows.filter((r) => r[0] === 'pool_mode').map((r) => r[1]);
      expect(modes).toEqual(['transaction']);
      const dbs = await client.query({ text: 'SHOW DATABASES', rowMode: 'array' });
      const names = dbs.rows.map((r) => r[0] as string);
      for (const n of nodes) expect(names).toContain(`${stack.database}_${n.name}`);
    } finally {
      await client.end();
    }
  });

  it('writes through the primary entry and reads them back through a replica entry', async () => {
    const writer = new pg.Client(stack.viaPgbouncer('primary'));
    await writer.connect();
    try {
      await writer.query('create table if not exists pgbouncer_check (id int primary key, v text)');
      await writer.query(
        "insert into pgbouncer_check values (1, 'through pgbouncer') on conflict (id) do update set v = excluded.v",
      );
      // After the commit: a position read inside the insert's transaction precedes its commit record, so
      // a replica could have replayed up to it and still not show the row.
      const { rows } = await writer.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
      const reader = new pg.Client(stack.viaPgbouncer('replica2'));
      await reader.connect();
      try {
        const deadline = Date.now() + 5_000;
        let caughtUp = false;
        while (!caughtUp && Date.now() < deadline) {
          const r = await reader.query<{ ok: boolean }>(
            'select pg_last_wal_replay_lsn() >= $1::pg_lsn as ok',
            [rows[0]!.lsn],
          );
          caughtUp = r.rows[0]!.ok;
        }
        const r = await reader.query<{ v: string }>('select v from pgbouncer_check where id = 1');
        expect(r.rows[0]?.v).toBe('through pgbouncer');
      } finally {
        await reader.end();
      }
    } finally {
      await writer.end();
    }
  });
});
