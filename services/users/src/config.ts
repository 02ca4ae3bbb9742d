// The users service's configuration: read from the environment once, validated as a whole.
import { Int, loadSettings, postgresSettings, serverSettings } from '@taskfleet/service';
import type { Static } from 'typebox';
import { Type } from 'typebox';

export const ConfigSchema = Type.Object({
  ...serverSettings(3200),
  /** Reads and writes both on the primary (through PgBouncer): a login must see the latest password. */
  DATABASE_PRIMARY_URL: Type.String({ minLength: 1 }),
  ...postgresSettings({ poolMax: 10 }),
  /**
   * Private signing keys as a JWK set (`{"keys": [...]}`, Ed25519 or P-256, each with a `kid`). The first
   * signs; all are published in the JWKS, so a new key can be added first and made the signer later.
   */
  AUTH_SIGNING_KEYS: Type.String({ minLength: 1 }),
  AUTH_ISSUER: Type.String({ default: 'taskfleet-users' }),
  AUTH_AUDIENCE: Type.String({ default: 'taskfleet-api' }),
  ACCESS_TOKEN_TTL_SECONDS: Int(60, 900, 3600),
  REFRESH_TOKEN_TTL_DAYS: Int(1, 30, 365),
  /** Password hashes computed at once; more wait (up to PASSWORD_HASH_QUEUE), beyond that 503. */
  PASSWORD_HASH_CONCURRENCY: Int(1, 4, 64),
  PASSWORD_HASH_QUEUE: Int(0, 64, 10_000),
  BODY_LIMIT: Int(1024, 16_384, 1_048_576),
});
export type Config = Static<typeof ConfigSchema>;

export { ConfigError } from '@taskfleet/service';

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return loadSettings<Config>(ConfigSchema, env, (config, problems) => {
    if (!config.AUTH_SIGNING_KEYS) return;
    try {
      const set = JSON.parse(config.AUTH_SIGNING_KEYS) as { keys?: { d?: unknown; kid?: unknown }[] };
      if (!Array.isArray(set.keys) || set.keys.length === 0)
        problems.push('AUTH_SIGNING_KEYS: must be a JWK set with at least one key ({"keys": [...]})');
      else if (!set.keys.every((k) => typeof k.d === 'string' && typeof k.kid === 'string'))
        problems.push('AUTH_SIGNING_KEYS: every key must be a private key (with "d") and have a "kid"');
    } catch {
      problems.push('AUTH_SIGNING_KEYS: not valid JSON');
    }
  });
}
