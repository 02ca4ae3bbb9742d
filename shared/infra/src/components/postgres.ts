// PostgreSQL primary + streaming replicas as local processes (each its own data dir and port).
import { appendFileSync, chownSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import type { StartContext } from '../context.ts';
import { logFile, serverDir } from '../context.ts';
import type { StopSpec } from '../proc.ts';
import { allSettledOrThrow, launch, run, waitFor } from '../proc.ts';
import type { HostPort } from '../state.ts';
import { postgresBinDir } from '../system.ts';

export const ADMIN_USER = 'postgres';
export const APP_USER = 'taskfleet';

// SIGINT = "fast" shutdown: roll back open transactions, then a clean checkpoint.
const STOP: StopSpec = { signal: 'SIGINT', group: false, graceMs: 30_000 };

export interface PostgresSpec {
  primary: HostPort;
  replicas: (HostPort & { name: string })[];
  databases: string[];
}

/** One query on a fresh, short-lived connection (administration, probes, tests). */
export async function queryOnce<T extends pg.QueryResultRow = pg.QueryResultRow>(
  target: HostPort & { user?: string; password?: string | undefined; database?: string },
  sql: string,
  params: unknown[] = [],
): Promise<pg.QueryResult<T>> {
  const client = new pg.Client({
    host: target.host,
    port: target.port,
    user: target.user ?? ADMIN_USER,
    password: target.password,
    database: target.database ?? 'postgres',
    connectionTimeoutMillis: 5_000,
    // Client-side: `statement_timeout` would travel as a startup parameter, which PgBouncer rejects.
    query_timeout: 30_000,
  });
  client.on('error', () => {}); // a dropped idle connection must not crash the caller
  await client.connect();
  try {
    return await client.query<T>(sql, params);
  } finally {
    await client.end();
  }
}

/** Settings we own, rewritten at every start (ports may change); included from postgresql.conf. */
function writeSettings(
  ctx: StartContext,
  dataDir: string,
  node: HostPort & { name: string },
  socketDir: string,
) {
  const fast = ctx.durability === 'fast';
  const settings = [
    '# Written by @taskfleet/infra at every start; edits are overwritten.',
    `listen_addresses = '${node.host}'`,
    `port = ${node.port}`,
    `unix_socket_directories = '${socketDir}'`,
    `cluster_name = '${node.name}'`,
    'wal_level = replica',
    'max_wal_senders = 10',
    'max_replication_slots = 10',
    'wal_keep_size = 256MB',
    'hot_standby = on',
    // Replicas tell the primary which rows their queries still need: fewer query cancellations.
    'hot_standby_feedback = on',
    'max_connections = 200',
    'shared_buffers = 128MB',
    "log_line_prefix = '%m [%p] %q%u@%d '",
    'log_min_duration_statement = 1000',
    // Throwaway test clusters only: durability costs time and proves nothing there.
    `fsync = ${fast ? 'off' : 'on'}`,
    `full_page_writes = ${fast ? 'off' : 'on'}`,
  ];
  const path = join(dataDir, 'taskfleet.conf');
  writeFileSync(path, `${settings.join('\n')}\n`);
  if (ctx.serverUser) chownSync(path, ctx.serverUser.uid, ctx.serverUser.gid);
  const main = join(dataDir, 'postgresql.conf');
  if (!readFileSync(main, 'utf8').includes("include_if_exists = 'taskfleet.conf'")) {
    appendFileSync(main, "\ninclude_if_exists = 'taskfleet.conf'\n");
  }
}

async function startNode(
  ctx: StartContext,
  dataDir: string,
  node: HostPort & { name: string },
): Promise<void> {
  const bin = postgresBinDir();
  writeSettings(ctx, dataDir, node, serverDir(ctx, 'pg', 'sockets', node.name));
  const name = `postgres-${node.name}`;
  const log = logFile(ctx, name);
  // The postmaster runs in the foreground of its own session: the PID we record is the server itself.
  const proc = launch(join(bin, 'postgres'), ['-D', dataDir], {
    stack: ctx.dir,
    logFile: log,
    runAs: ctx.serverUser,
  });
  ctx.record({
    name,
    kind: 'postgres',
    ...proc,
    address: `${node.host}:${node.port}`,
    logFile: log,
    stop: STOP,
    stopTier: node.name === 'primary' ? 4 : 3,
  });
  await waitFor(
    `${name} to accept connections`,
    async () => (await queryOnce(node, 'select 1')).rowCount === 1,
    {
      timeoutMs: 60_000,
      logFile: log,
      pid: proc.pid,
    },
  );
  ctx.progress(`${name} up on ${node.host}:${node.port}`);
}

async function initPrimary(ctx: StartContext, dataDir: string): Promise<void> {
  const bin = postgresBinDir();
  await run(
    join(bin, 'initdb'),
    ['-D', dataDir, '-U', ADMIN_USER, '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8'],
    { runAs: ctx.serverUser },
  );
}

/** Roles and databases; idempotent, so a restarted stack keeps its data. */
async function provision(primary: HostPort, databases: readonly string[]): Promise<void> {
  await queryOnce(
    primary,
    `do $$ begin
       if not exists (select from pg_roles where rolname = '${APP_USER}') then create role ${APP_USER} login; end if;
     end $$`,
  );
  for (const db of databases) {
    if (!/^[a-z_][a-z0-9_]*$/.test(db)) throw new Error(`invalid database name: ${db}`);
    const exists = await queryOnce(primary, 'select 1 from pg_database where datname = $1', [db]);
    if (exists.rowCount === 0) await queryOnce(primary, `create database ${db} owner ${APP_USER}`);
  }
}

/**
 * A write on the primary must show up on every replica, and each must stream from the primary.
 * Fails start-up otherwise: a stack with silently broken replication would make every test lie.
 */
export async function verifyReplication(spec: PostgresSpec, timeoutMs = 30_000): Promise<void> {
  const { primary } = spec;
  await queryOnce(
    primary,
    'create table if not exists taskfleet_replication_probe (id int primary key, at timestamptz not null)',
  );
  const written = await queryOnce<{ at: Date; lsn: string }>(
    primary,
    `insert into taskfleet_replication_probe values (1, clock_timestamp())
     on conflict (id) do update set at = excluded.at
     returning at, pg_current_wal_lsn()::text as lsn`,
  );
  const { at, lsn } = written.rows[0]!;
  for (const replica of spec.replicas) {
    await waitFor(
      `replica ${replica.name} to replay ${lsn}`,
      async () => {
        const r = await queryOnce<{ at: Date | null; caught_up: boolean; in_recovery: boolean }>(
          replica,
          `select (select at from taskfleet_replication_probe where id = 1) as at,
                  pg_last_wal_replay_lsn() >= $1::pg_lsn as caught_up, pg_is_in_recovery() as in_recovery`,
          [lsn],
        );
        const row = r.rows[0]!;
        if (!row.in_recovery) throw new Error(`${replica.name} is not in recovery (not a replica)`);
        return row.caught_up && row.at?.getTime() === at.getTime();
      },
      { timeoutMs },
    );
  }
  const streaming = await queryOnce<{ name: string }>(
    primary,
    "select application_name as name from pg_stat_replication where state = 'streaming'",
  );
  const names = new Set(streaming.rows.map((r) => r.name));
  const missing = spec.replicas.filter((r) => !names.has(r.name)).map((r) => r.name);
  if (missing.length > 0) throw new Error(`not streaming from the primary: ${missing.join(', ')}`);
}

export async function startPostgres(ctx: StartContext, spec: PostgresSpec): Promise<void> {
  const primaryDir = join(serverDir(ctx, 'pg'), 'primary');
  if (!existsSync(join(primaryDir, 'PG_VERSION'))) {
    serverDir(ctx, 'pg', 'primary');
    await initPrimary(ctx, primaryDir);
    ctx.progress('postgres primary initialised');
  }
  await startNode(ctx, primaryDir, { ...spec.primary, name: 'primary' });
  await provision(spec.primary, spec.databases);

  await allSettledOrThrow(spec.replicas.map((replica) => startReplica(ctx, spec.primary, replica)));
  await verifyReplication(spec);
  ctx.progress(`replication verified on ${spec.replicas.map((r) => r.name).join(', ')}`);
}

/** A streaming replica of `primary`: cloned with pg_basebackup on first start, then started. */
export async function startReplica(
  ctx: StartContext,
  primary: HostPort,
  replica: HostPort & { name: string },
): Promise<void> {
  const dataDir = join(ctx.dir, 'pg', replica.name);
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    serverDir(ctx, 'pg', replica.name);
    await queryOnce(
      primary,
      'select pg_drop_replication_slot($1) from pg_replication_slots where slot_name = $1',
      [replica.name],
    );
    // -R writes standby.signal + primary_conninfo; -C -S creates a slot so the primary keeps the WAL
    // a stopped replica still needs.
    await run(
      join(postgresBinDir(), 'pg_basebackup'),
      [
        '-h',
        primary.host,
        '-p',
        String(primary.port),
        '-U',
        ADMIN_USER,
        '-D',
        dataDir,
        '-R',
        '-X',
        'stream',
        '-C',
        '-S',
        replica.name,
        '-c',
        'fast',
      ],
      { runAs: ctx.serverUser },
    );
  }
  await startNode(ctx, dataDir, replica);
}

export interface ReplicaStatus {
  name: string;
  replayLsn: string | null;
  /** Bytes of WAL the replica has not replayed yet, against the primary's current position. */
  lagBytes: number;
  /** Seconds since the last replayed transaction committed on the primary; 0 when nothing is pending. */
  lagSeconds: number;
  replayPaused: boolean;
}

/** Replica lag as the services will measure it (design §3): replay LSN against the primary's LSN. */
export async function replicaStatus(
  spec: Pick<PostgresSpec, 'primary' | 'replicas'>,
): Promise<ReplicaStatus[]> {
  const current = await queryOnce<{ lsn: string }>(spec.primary, 'select pg_current_wal_lsn()::text as lsn');
  const primaryLsn = current.rows[0]!.lsn;
  return Promise.all(
    spec.replicas.map(async (replica) => {
      const r = await queryOnce<{
        replay: string | null;
        lag_bytes: string | null;
        lag_seconds: number | null;
        paused: boolean;
      }>(
        replica,
        `select pg_last_wal_replay_lsn()::text as replay,
                pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn())::text as lag_bytes,
                case when pg_last_wal_replay_lsn() >= $1::pg_lsn then 0
                     else extract(epoch from clock_timestamp() - pg_last_xact_replay_timestamp())::float8 end as lag_seconds,
                pg_is_wal_replay_paused() as paused`,
        [primaryLsn],
      );
      const row = r.rows[0]!;
      return {
        name: replica.name,
        replayLsn: row.replay,
        lagBytes: Math.max(0, Number(row.lag_bytes ?? 0)),
        lagSeconds: Math.max(0, row.lag_seconds ?? 0),
        replayPaused: row.paused,
      };
    }),
  );
}
