import { configProblems } from '@taskfleet/infra';
import { exportJWK, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';

// A key of its own rather than test/helper.ts's: that module reaches for the shared test stack.
const { publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
const JWKS = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'unit', alg: 'EdDSA' }] });

const minimal = {
  DATABASE_PRIMARY_URL: 'postgres://x@h/db',
  REDIS_URL: 'redis://h',
  AMQP_URL: 'amqp://h',
  AUTH_JWKS: JWKS,
};

/** The ConfigError message loadConfig throws for `env`. */
const problemsOf = (env: NodeJS.ProcessEnv): string => configProblems(() => loadConfig(env));

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
    const message = problemsOf({ PORT: 'eighty', DB_POOL_MAX: '0', LOG_LEVEL: 'chatty', AUTH_JWKS: '{nope' });
    for (const name of ['DATABASE_PRIMARY_URL', 'REDIS_URL', 'PORT', 'DB_POOL_MAX', 'LOG_LEVEL', 'AUTH_JWKS'])
      expect(message).toContain(name);
  });

  describe('verification keys', () => {
    const { AUTH_JWKS: _, ...withoutKeys } = minimal;

    it('requires a source of verification keys', () => {
      expect(problemsOf(withoutKeys)).toMatch(/AUTH_JWKS or AUTH_JWKS_URL: one is required/);
    });

    it('takes a JWKS URL instead of an inline document', () => {
      const c = loadConfig({ ...withoutKeys, AUTH_JWKS_URL: 'http://users:3200/.well-known/jwks.json' });
      expect(c.AUTH_JWKS_URL).toBe('http://users:3200/.well-known/jwks.json');
      expect(c.AUTH_JWKS).toBeUndefined();
    });

    it('treats an empty AUTH_JWKS as absent', () => {
      expect(problemsOf({ ...withoutKeys, AUTH_JWKS: '' })).toMatch(/one is required/);
    });

    it('rejects an inline document that is not JSON', () => {
      const message = problemsOf({ ...minimal, AUTH_JWKS: '{nope' });
      expect(message).toContain('AUTH_JWKS: not valid JSON');
      expect(message).not.toContain('one is required');
    });

    it('rejects JSON that is not a key set', () => {
      for (const doc of ['{}', '{"keys": {}}', '[]', '{"keys": "k1"}'])
        expect(problemsOf({ ...minimal, AUTH_JWKS: doc })).toContain('AUTH_JWKS: must be a JWKS document');
    });

    it('checks an inline document even when a URL is given as well', () => {
      expect(
        problemsOf({ ...minimal, AUTH_JWKS: '{"keys": 1}', AUTH_JWKS_URL: 'http://users:3200/jwks' }),
      ).toContain('AUTH_JWKS: must be a JWKS document');
    });
  });
});
