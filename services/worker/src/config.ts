// The worker's configuration, validated once (every problem in one error).

import { assertNoProblems, Int, readEnv } from '@taskfleet/service';
import type { Static } from 'typebox';
import { Type } from 'typebox';

export const ConfigSchema = Type.Object({
  HOST: Type.String({ default: '127.0.0.1' }),
  PORT: Int(0, 3100),
  LOG_LEVEL: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info' }),
  /** The primary, through PgBouncer (the relay's transactions are short). */
  DATABASE_PRIMARY_URL: Type.String({ minLength: 1 }),
  AMQP_URL: Type.String({ minLength: 1 }),
  REDIS_URL: Type.String({ minLength: 1 }),
  REDIS_KEY_PREFIX: Type.String({ default: 'tf:' }),
  /** How often an idle relay looks for new outbox rows (a busy one loops without waiting). */
  RELAY_POLL_MS: Int(1, 20),
  RELAY_BATCH: Int(1, 200),
  /** Sent outbox rows are deleted after this long. */
  OUTBOX_RETENTION_HOURS: Int(1, 24),
  /**
   * Tasks' Idempotency-Keys are honoured this long (the gateway replays answers for 24 h as well),
   * then removed by maintenance, in batches that never make a create wait.
   */
  IDEMPOTENCY_KEY_RETENTION_HOURS: Int(1, 24),
  MAINTENANCE_INTERVAL_SECONDS: Int(1, 3600),
  /** The queue of the durable cache invalidator (one per deployment: replicas share it). */
  INVALIDATOR_QUEUE: Type.String({ default: 'tasks.cache-invalidation' }),
});
export type Config = Static<typeof ConfigSchema>;

export { ConfigError } from '@taskfleet/service';

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const { value, problems } = readEnv(ConfigSchema, env);
  assertNoProblems(problems);
  return value as Config;
}
