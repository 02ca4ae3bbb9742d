import { configProblems } from '@taskfleet/infra';
import { exportJWK, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';

const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
const privateJwk = { ...(await exportJWK(privateKey)), kid: 'k1' };
const publicJwk = { ...(await exportJWK(publicKey)), kid: 'k1' };

const base = { DATABASE_PRIMARY_URL: 'postgres://x@h/db' };
const withKeys = (keys: unknown) => ({ ...base, AUTH_SIGNING_KEYS: JSON.stringify(keys) });

/** The ConfigError message loadConfig throws for `env`. */
const problemsOf = (env: NodeJS.ProcessEnv): string => configProblems(() => loadConfig(env));

describe('users loadConfig', () => {
  it('accepts a set of private keys with ids, with defaults for the rest', () => {
    expect(loadConfig(withKeys({ keys: [privateJwk] }))).toMatchObject({
      PORT: 3200,
      ACCESS_TOKEN_TTL_SECONDS: 900,
      PASSWORD_HASH_CONCURRENCY: 4,
      PASSWORD_HASH_QUEUE: 64,
    });
  });

  it('requires signing keys', () => {
    expect(problemsOf(base)).toContain('AUTH_SIGNING_KEYS');
  });

  it('rejects signing keys that are not JSON', () => {
    expect(problemsOf({ ...base, AUTH_SIGNING_KEYS: '{"keys": [' })).toContain(
      'AUTH_SIGNING_KEYS: not valid JSON',
    );
  });

  it.each([
    ['no keys array', {}],
    ['an empty set', { keys: [] }],
    ['a single key instead of a set', privateJwk],
  ])('rejects %s', (_, keys) => {
    expect(problemsOf(withKeys(keys))).toContain(
      'AUTH_SIGNING_KEYS: must be a JWK set with at least one key',
    );
  });

  it.each([
    ['a public key (no "d")', { keys: [privateJwk, publicJwk] }],
    ['a key without a kid', { keys: [{ ...privateJwk, kid: undefined }] }],
    ['a numeric kid', { keys: [{ ...privateJwk, kid: 1 }] }],
  ])('rejects a set with %s', (_, keys) => {
    expect(problemsOf(withKeys(keys))).toContain(
      'every key must be a private key (with "d") and have a "kid"',
    );
  });

  it('reports the key problem together with the others', () => {
    const message = problemsOf({ AUTH_SIGNING_KEYS: '[', PASSWORD_HASH_CONCURRENCY: '0' });
    for (const name of [
      'DATABASE_PRIMARY_URL',
      'PASSWORD_HASH_CONCURRENCY',
      'AUTH_SIGNING_KEYS: not valid JSON',
    ])
      expect(message).toContain(name);
  });
});
