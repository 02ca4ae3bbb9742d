// The worker's configuration, validated once (every problem in one error).
import {
  amqpSettings,
  Int,
  loadSettings,
  postgresSettings,
  redisSettings,
  serverSettings,
} from '@taskfleet/service';
import type { Static } from 'typebox';
import { Type } from 'typebox';

export const ConfigSchema = Type.Object({
  ...serverSettings(3100),
  /** The primary, through PgBouncer (the relay's transactions are short). */
  DATABASE_PRIMARY_URL: Type.String({ minLength: 1 }),
  /** The relay holds one connection per batch; maintenance and the backlog gauge one each. */
  ...postgresSettings({ poolMax: 4, queryTimeoutMs: 10_000 }),
  ...amqpSettings(),
  ...redisSettings(),
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

export const loadConfig = (env: NodeJS.ProcessEnv = process.env): Config =>
  loadSettings<Config>(ConfigSchema, env);
