// PgBouncer (transaction pooling) in front of every Postgres node, from the repo's own config template.
import { chownSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StartContext } from '../context.ts';
import { logFile, serverDir } from '../context.ts';
import { repoPath } from '../paths.ts';
import type { StopSpec } from '../proc.ts';
import { launch, waitFor } from '../proc.ts';
import type { HostPort } from '../state.ts';
import { binary } from '../system.ts';
import { renderTemplate } from '../template.ts';
import { ADMIN_USER, APP_USER, queryOnce } from './postgres.ts';

// SIGTERM = immediate shutdown (SIGINT would wait for every client to disconnect).
const STOP: StopSpec = { signal: 'SIGTERM', group: false, graceMs: 10_000 };

export interface PgbouncerSpec extends HostPort {
  nodes: (HostPort & { name: string })[];
  databases: string[];
}

/**
 * Limits set on every server connection PgBouncer opens: clients can't send them (PgBouncer rejects
 * statement_timeout as a startup parameter, and SET would leak across transactions), and a database
 * default only reaches connections opened after it was set. Compose uses the same line.
 */
export const SESSION_LIMITS =
  "connect_query='SET statement_timeout = 5000; SET idle_in_transaction_session_timeout = 10000'";

/** The PgBouncer database name that reaches `database` on one node, e.g. taskfleet_replica1. */
export function pgbouncerDatabase(database: string, node: string): string {
  return `${database}_${node}`;
}

export async function startPgbouncer(ctx: StartContext, spec: PgbouncerSpec): Promise<void> {
  const dir = serverDir(ctx, 'pgbouncer');
  const entries = spec.databases.flatMap((db) =>
    spec.nodes.map(
      (n) =>
        `${pgbouncerDatabase(db, n.name)} = host=${n.host} port=${n.port} dbname=${db} ${SESSION_LIMITS}`,
    ),
  );
  const ini = renderTemplate(readFileSync(repoPath('deploy/pgbouncer/pgbouncer.ini.template'), 'utf8'), {
    PGBOUNCER_DATABASES: entries.join('\n'),
    PGBOUNCER_LISTEN_ADDR: spec.host,
    PGBOUNCER_PORT: spec.port,
    // Local-only default: trust on loopback. Compose and Swarm use scram-sha-256 with secrets.
    PGBOUNCER_AUTH_TYPE: 'trust',
    PGBOUNCER_AUTH_FILE: join(dir, 'userlist.txt'),
    PGBOUNCER_ADMIN_USER: ADMIN_USER,
    PGBOUNCER_MAX_CLIENT_CONN: 4000,
  });
  for (const [file, text] of [
    ['pgbouncer.ini', ini],
    ['userlist.txt', `"${ADMIN_USER}" ""\n"${APP_USER}" ""\n`],
  ] as const) {
    writeFileSync(join(dir, file), text, { mode: 0o600 });
    if (ctx.serverUser) chownSync(join(dir, file), ctx.serverUser.uid, ctx.serverUser.gid);
  }
  const log = logFile(ctx, 'pgbouncer');
  // Foreground (no -d): `pgbouncer -d` can exit 0 while the daemon dies, and we want the real PID.
  const proc = launch(binary('pgbouncer'), [join(dir, 'pgbouncer.ini')], {
    stack: ctx.dir,
    logFile: log,
    runAs: ctx.serverUser,
  });
  ctx.record({
    name: 'pgbouncer',
    kind: 'pgbouncer',
    ...proc,
    address: `${spec.host}:${spec.port}`,
    logFile: log,
    stop: STOP,
    stopTier: 2,
  });
  // Ready when every entry answers from the node it names.
  for (const db of spec.databases) {
    for (const node of spec.nodes) {
      const database = pgbouncerDatabase(db, node.name);
      await waitFor(
        `pgbouncer to serve ${database}`,
        async () => {
          const r = await queryOnce<{ port: number }>(
            { host: spec.host, port: spec.port, user: APP_USER, database },
            'select inet_server_port() as port',
          );
          return r.rows[0]?.port === node.port;
        },
        { timeoutMs: 20_000, logFile: log, pid: proc.pid },
      );
    }
  }
  ctx.progress(
    `pgbouncer up on ${spec.host}:${spec.port} (${spec.databases.length * spec.nodes.length} databases)`,
  );
}
