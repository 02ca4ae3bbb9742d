// Connection settings for a running stack, as the environment variables the services read.

import { pgbouncerDatabase } from './components/pgbouncer.ts';
import { amqpUrl } from './components/rabbitmq.ts';
import type { StackState } from './state.ts';

export interface StackEnvOptions {
  database?: string;
  vhost?: string;
}

export function stackEnv(state: StackState, opts: StackEnvOptions = {}): Record<string, string> {
  const { endpoints: e } = state;
  const database = opts.database ?? state.databases[0] ?? 'taskfleet';
  const vhost = opts.vhost ?? state.vhosts[0] ?? 'taskfleet';
  const cred = (user: string, password: string | undefined) =>
    password === undefined
      ? encodeURIComponent(user)
      : `${encodeURIComponent(user)}:${encodeURIComponent(password)}`;
  const app = cred(e.postgres.appUser, e.postgres.appPassword);
  const viaPgbouncer = (node: string) =>
    `postgres://${app}@${e.pgbouncer.host}:${e.pgbouncer.port}/${pgbouncerDatabase(database, node)}`;
  return {
    DATABASE_PRIMARY_URL: viaPgbouncer('primary'),
    DATABASE_REPLICA_URLS: e.postgres.replicas.map((r) => viaPgbouncer(r.name)).join(','),
    // Direct to the primary, as the owning role: migrations (they take a session advisory lock, which
    // PgBouncer's transaction pooling can't hold).
    DATABASE_MIGRATION_URL: `postgres://${app}@${e.postgres.primary.host}:${e.postgres.primary.port}/${database}`,
    // Direct, superuser connections: administration only, never the request path.
    DATABASE_ADMIN_URL: `postgres://${cred(e.postgres.adminUser, e.postgres.adminPassword)}@${e.postgres.primary.host}:${e.postgres.primary.port}/${database}`,
    REDIS_URL: `redis://${e.redis.host}:${e.redis.port}`,
    AMQP_URL: amqpUrl(e.rabbitmq, vhost),
    PROMETHEUS_URL: `http://${e.prometheus.host}:${e.prometheus.port}`,
    ALERTMANAGER_URL: `http://${e.alertmanager.host}:${e.alertmanager.port}`,
    EDGE_URL: `http://${e.nginx.host}:${e.nginx.httpPort}`,
  };
}
