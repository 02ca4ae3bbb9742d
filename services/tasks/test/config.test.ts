import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { JWKS } from './helper.ts';

const minimal = {
  DATABASE_PRIMARY_URL: 'postgres://x@h/db',
  REDIS_URL: 'redis://h',
  AMQP_URL: 'amqp://h',
  AUTH_JWKS: JWKS,
};

describe('loadConfig', () => {
  it('applies defaults to a minimal environment', () => {
    const c = loadConfig(minimal);
    expect(c).toMatchObject({
      PORT: 3000,
      DB_POOL_MAX: 10,
      REPLICA_MAX_LAG_SECONDS: 10,
      CONSISTENCY_TTL_SECONDS: 30,
      LOG_LEVEL: 'info',
    });
  });

  it('reports every problem at once', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', DB_POOL_MAX: '0', LOG_LEVEL: 'chatty', AUTH_JWKS: '{nope' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    for (const name of ['DATABASE_PRIMARY_URL', 'REDIS_URL', 'PORT', 'DB_POOL_MAX', 'LOG_LEVEL', 'AUTH_JWKS'])
      expect(message).toContain(name);
  });

  it('requires a source of verification keys', () => {
    expect(() =>
      loadConfig({ DATABASE_PRIMARY_URL: 'postgres://x@h/db', REDIS_URL: 'redis://h', AMQP_URL: 'amqp://h' }),
    ).toThrow(/AUTH_JWKS or AUTH_JWKS_URL/);
  });
});
