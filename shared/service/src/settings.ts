// Configuration fragments every service composes its schema from, so the same setting has the same
// name, default and bounds everywhere: `Type.Object({ ...serverSettings(3000), ...postgresSettings() })`.
import type { TObject } from 'typebox';
import { Type } from 'typebox';
import { assertNoProblems, Int, readEnv } from './config.ts';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Where it listens, how much it logs, and how long it keeps serving after readiness went false. */
export const serverSettings = (defaultPort: number) => ({
  HOST: Type.String({ default: '127.0.0.1' }),
  PORT: Int(0, defaultPort, 65_535),
  LOG_LEVEL: Type.Enum(LOG_LEVELS, { default: 'info' }),
  /**
   * After SIGTERM: readiness answers 503 at once, requests are still served this long (so balancers
   * probing readiness stop sending first), then the listener closes and in-flight requests finish.
   * 0 natively (nginx retries the next replica on a refused connection); containers set a few seconds.
   */
  SHUTDOWN_DRAIN_MS: Int(0, 0, 60_000),
});

/** One PostgreSQL pool's bounds. */
export const postgresSettings = (defaults: { poolMax: number; queryTimeoutMs?: number }) => ({
  DB_POOL_MAX: Int(1, defaults.poolMax, 200),
  /** How long a request may wait for a pooled connection before it fails with 503. */
  DB_POOL_WAIT_MS: Int(1, 2_000),
  /** Client-side ceiling per query; the database's own statement_timeout (5 s) fires first. */
  DB_QUERY_TIMEOUT_MS: Int(1, defaults.queryTimeoutMs ?? 6_000),
});
export interface PostgresSettings {
  DB_POOL_MAX: number;
  DB_POOL_WAIT_MS: number;
  DB_QUERY_TIMEOUT_MS: number;
}

/** Redis, and the prefix of every key this deployment writes (tests give each run its own). */
export const redisSettings = () => ({
  REDIS_URL: Type.String({ minLength: 1 }),
  REDIS_KEY_PREFIX: Type.String({ default: 'tf:' }),
});

export const amqpSettings = () => ({
  AMQP_URL: Type.String({ minLength: 1 }),
});

/**
 * Read and validate a schema from the environment; `check` adds cross-field problems. Throws one
 * ConfigError listing every problem.
 */
export function loadSettings<T>(
  schema: TObject,
  env: NodeJS.ProcessEnv,
  check?: (config: T, problems: string[]) => void,
): T {
  const { value, problems } = readEnv(schema, env);
  check?.(value as T, problems);
  assertNoProblems(problems);
  return value as T;
}

/** The items of a comma-separated setting, trimmed, empty ones dropped. */
export const commaList = (list: string): string[] =>
  list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
