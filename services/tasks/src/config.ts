// The task service's configuration: read from the environment once, validated as a whole (every
// problem reported in one error), then handed to the plugins that need it as their options.

import {
  amqpSettings,
  commaList,
  Int,
  loadSettings,
  postgresSettings,
  redisSettings,
  serverSettings,
} from '@taskfleet/service';
import type { Static } from 'typebox';
import { Type } from 'typebox';

export const ConfigSchema = Type.Object({
  ...serverSettings(3000),
  /** Writes and read-check-write logic: the primary, through PgBouncer. */
  DATABASE_PRIMARY_URL: Type.String({ minLength: 1 }),
  /** Comma-separated replica URLs (through PgBouncer, one entry per node); may be empty. */
  DATABASE_REPLICA_URLS: Type.String({ default: '' }),
  /** One pool each for the primary and every replica. */
  ...postgresSettings({ poolMax: 10 }),
  REPLICA_POLL_MS: Int(10, 100),
  /** A replica further behind than either bound leaves the read rotation until it catches up. */
  REPLICA_MAX_LAG_BYTES: Int(0, 8 * 1024 * 1024),
  REPLICA_MAX_LAG_SECONDS: Int(0, 10),
  ...redisSettings(),
  /** How long a user's last write position steers their reads (design §3: 30 s). */
  CONSISTENCY_TTL_SECONDS: Int(1, 30),
  /** Verification keys for access tokens: a JWKS document inline, or the URL that serves it. */
  AUTH_JWKS: Type.Optional(Type.String({ minLength: 1 })),
  AUTH_JWKS_URL: Type.Optional(Type.String({ minLength: 1 })),
  AUTH_ISSUER: Type.String({ default: 'taskfleet-users' }),
  AUTH_AUDIENCE: Type.String({ default: 'taskfleet-api' }),
  /** Task events (invalidations of other replicas' L1 caches). */
  ...amqpSettings(),
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
  return loadSettings<Config>(ConfigSchema, env, (config, problems) => {
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
  });
}

export const replicaUrls = (config: Config): string[] => commaList(config.DATABASE_REPLICA_URLS);
