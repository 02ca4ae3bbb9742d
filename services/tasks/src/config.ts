// The task service's configuration: read from the environment once, validated as a whole (every
// problem reported in one error), then only read from the decorated `app.config`.

import { assertNoProblems, Int, readEnv } from '@taskfleet/service';
import type { Static } from 'typebox';
import { Type } from 'typebox';

export const ConfigSchema = Type.Object({
  HOST: Type.String({ default: '127.0.0.1' }),
  PORT: Int(0, 3000, 65535),
  LOG_LEVEL: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info' }),
  /** Writes and read-check-write logic: the primary, through PgBouncer. */
  DATABASE_PRIMARY_URL: Type.String({ minLength: 1 }),
  /** Comma-separated replica URLs (through PgBouncer, one entry per node); may be empty. */
  DATABASE_REPLICA_URLS: Type.String({ default: '' }),
  DB_POOL_MAX: Int(1, 10, 200),
  /** How long a request may wait for a pooled connection before it fails with 503. */
  DB_POOL_WAIT_MS: Int(1, 2_000),
  /** Client-side ceiling per query; the database's own statement_timeout (5 s) fires first. */
  DB_QUERY_TIMEOUT_MS: Int(1, 6_000),
  REPLICA_POLL_MS: Int(10, 100),
  /** A replica further behind than either bound leaves the read rotation until it catches up. */
  REPLICA_MAX_LAG_BYTES: Int(0, 8 * 1024 * 1024),
  REPLICA_MAX_LAG_SECONDS: Int(0, 10),
  REDIS_URL: Type.String({ minLength: 1 }),
  REDIS_KEY_PREFIX: Type.String({ default: 'tf:' }),
  /** How long a user's last write position steers their reads (design §3: 30 s). */
  CONSISTENCY_TTL_SECONDS: Int(1, 30),
  /** Verification keys for access tokens: a JWKS document inline, or the URL that serves it. */
  AUTH_JWKS: Type.Optional(Type.String({ minLength: 1 })),
  AUTH_JWKS_URL: Type.Optional(Type.String({ minLength: 1 })),
  AUTH_ISSUER: Type.String({ default: 'taskfleet-users' }),
  AUTH_AUDIENCE: Type.String({ default: 'taskfleet-api' }),
  /** Task events (invalidations of other replicas' L1 caches). */
  AMQP_URL: Type.String({ minLength: 1 }),
  /** Cache sizes and lifetimes; defaults from seed 004 §4.1 (L1 ≈60 s, Redis ≈5 min). */
  CACHE_L1_MAX_ENTRIES: Int(1, 10_000),
  CACHE_L1_TTL_SECONDS: Int(1, 60),
  CACHE_L2_TTL_SECONDS: Int(1, 300),
  /** Largest request body accepted (bytes). */
  BODY_LIMIT: Int(1024, 128 * 1024),
});
export type Config = Static<typeof ConfigSchema>;

export { ConfigError } from '@taskfleet/service';

/** Parse and validate; throws one ConfigError listing every bad or missing variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const { value, problems } = readEnv(ConfigSchema, env);
  const config = value as Config;
  if (!config.AUTH_JWKS && !config.AUTH_JWKS_URL)
    problems.push('AUTH_JWKS or AUTH_JWKS_URL: one is required');
  if (config.AUTH_JWKS) {
    try {
      const jwks = JSON.parse(config.AUTH_JWKS) as { keys?: unknown };
      if (!Array.isArray(jwks.keys)) problems.push('AUTH_JWKS: must be a JWKS document ({"keys": [...]})');
    } catch {
      problems.push('AUTH_JWKS: not valid JSON');
    }
  }
  assertNoProblems(problems);
  return config;
}

export function replicaUrls(config: Config): string[] {
  return config.DATABASE_REPLICA_URLS.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
