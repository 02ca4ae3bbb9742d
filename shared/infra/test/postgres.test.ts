import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replicaStatus } from '../src/index.ts';
import { testStack } from '../src/vitest/index.ts';

const stack = testStack();
const { postgres } = stack.state.endpoints;
const clients: pg.Client[] = [];

async function connect(config: pg.ClientConfig): Promise<pg.Client> {
  const client = new pg.Client(config);
  await client.connect();
  clients.push(client);
  return client;
}

async function waitForRow(client: pg.Client, id: number, timeoutMs = 5_000): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await client.query<{ body: string }>('select body from replication_check where id = $1', [id]);
    if (r.rows[0] || Date.now() > deadline) return r.rows[0]?.body;
    await new Promise((res) => setTimeout(res, 20));
  }
}

describe('postgres primary + streaming replicas', () => {
  let primary: pg.Client;
  beforeAll(async () => {
    primary = await connect(stack.direct('primary'));
    await primary.query('drop table if exists replication_check');
    await primary.query('create table replication_check (id int primary key, body text not null)');
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end()));
  });

  it('runs two replicas that are in recovery and stream from the primary', async () => {
    expect(postgres.replicas.map((r) => r.name)).toEqual(['replica1', 'replica2']);
    const r = await primary.query<{ name: string; state: string }>(
      'select application_name as name, state from pg_stat_replication order by 1',
    );
    expect(r.rows).toEqual([
      { name: 'replica1', state: 'streaming' },
      { name: 'replica2', state: 'streaming' },
    ]);
    for (const replica of postgres.replicas) {
      const c = await connect(stack.direct(replica.name));
      const rec = await c.query<{ rec: boolean }>('select pg_is_in_recovery() as rec');
      expect(rec.rows[0]?.rec).toBe(true);
    }
  });

  it('makes a write on the primary visible on both replicas', async () => {
    const body = `written at ${new Date().toISOString()}`;
    await primary.query('insert into replication_check values (1, $1)', [body]);
    for (const replica of postgres.replicas) {
      const c = await connect(stack.direct(replica.name));
      expect(await waitForRow(c, 1)).toBe(body);
    }
  });

  it('refuses writes on a replica', async () => {
    const c = await connect(stack.direct('replica1'));
    await expect(c.query("insert into replication_check values (99, 'x')")).rejects.toThrow(
      /read-only transaction/,
    );
  });

  it('reports replica lag: bytes behind grow while replay is paused and return to 0 after', async () => {
    const admin = await connect({ ...stack.direct('replica1'), database: 'postgres' });
    await admin.query('select pg_wal_replay_pause()');
    try {
      await primary.query(
        "insert into replication_check select g, repeat('x', 100) from generate_series(100, 2000) g",
      );
      const paused = await replicaStatus(postgres);
      const r1 = paused.find((s) => s.name === 'replica1')!;
      const r2 = paused.find((s) => s.name === 'replica2')!;
      expect(r1.replayPaused).toBe(true);
      expect(r1.lagBytes).toBeGreaterThan(0);
      // The other replica keeps replaying.
      expect(r2.replayPaused).toBe(false);
      const c1 = await connect(stack.direct('replica1'));
      expect(await waitForRow(c1, 2000, 300)).toBeUndefined();
    } finally {
      await admin.query('select pg_wal_replay_resume()');
    }
    const deadline = Date.now() + 5_000;
    let lag = Number.POSITIVE_INFINITY;
    while (lag > 0 && Date.now() < deadline) {
      lag = (await replicaStatus(postgres)).find((s) => s.name === 'replica1')!.lagBytes;
    }
    expect(lag).toBe(0);
  });
});
