// The clients of the data tier, made the same way in every service and closed with its app: a
// PostgreSQL pool and a Redis connection. Neither may crash the process or block its start when its
// server is away: an idle pooled connection that dies is replaced, Redis connects (and reconnects) in
// the background.
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import pg from 'pg';
import { instrumentPool } from './pool-metrics.ts';
import type { PostgresSettings } from './settings.ts';

/**
 * A pool for `name` (its application_name in pg_stat_activity), ended when the app closes, measured on
 * the app's registry (pool-metrics.ts: db_pool_*{pool=name}); with `readiness`, a health check under
 * that name that runs `select 1` on it.
 */
export function postgresPool(
  app: FastifyInstance,
  opts: {
    url: string;
    name: string;
    settings: PostgresSettings;
    readiness?: { check: string; critical: boolean };
  },
): pg.Pool {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.settings.DB_POOL_MAX,
    connectionTimeoutMillis: opts.settings.DB_POOL_WAIT_MS,
    query_timeout: opts.settings.DB_QUERY_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    application_name: opts.name,
  });
  pool.on('error', (err) => app.log.warn({ err, pool: opts.name }, 'idle database connection lost'));
  const unmeasure = instrumentPool(app.metricsRegistry, opts.name, pool);
  app.addHook('onClose', async () => {
    unmeasure();
    await pool.end();
  });
  if (opts.readiness)
    app.health.add({
      name: opts.readiness.check,
      critical: opts.readiness.critical,
      check: () => pool.query('select 1'),
    });
  return pool;
}

export interface RedisOptions {
  /** How long a command may take before it fails: what a caller can afford to wait on this path. */
  commandTimeoutMs: number;
  /** Attempts after a lost connection before a command fails (0: at once). */
  maxRetriesPerRequest?: number;
}

/**
 * A Redis connection that fails fast while Redis is away (no offline queue: callers have fallbacks)
 * and sends the commands issued in one tick in one write (auto-pipelining, docs/performance.md).
 * Resolves once connected, or at once when Redis is not there (it keeps trying in the background).
 */
export async function redisClient(app: FastifyInstance, url: string, opts: RedisOptions): Promise<Redis> {
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: opts.maxRetriesPerRequest ?? 1,
    commandTimeout: opts.commandTimeoutMs,
    connectTimeout: 1_000,
    lazyConnect: true,
    enableAutoPipelining: true,
  });
  // Callers see failures as failed commands (counted in their metrics); the client reconnects itself.
  client.on('error', (err) => app.log.debug({ err }, 'redis error'));
  app.addHook('onClose', async () => {
    client.disconnect();
  });
  await client
    .connect()
    .catch((err) => app.log.warn({ err }, 'redis unavailable at start; carrying on without it'));
  return client;
}
