import { createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { loadSigningKeys, newRefreshToken, refreshTokenHash, TokenIssuer } from '../../src/tokens.ts';

async function privateJwk(alg: 'EdDSA' | 'ES256' | 'ES384', kid: string) {
  const options = alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : { extractable: true };
  const { privateKey } = await generateKeyPair(alg, options);
  return { ...(await exportJWK(privateKey)), kid };
}

const ed = await privateJwk('EdDSA', 'ed-1');
const p256 = await privateJwk('ES256', 'p256-1');
const OPTS = { issuer: 'taskfleet-users', audience: 'taskfleet-api', ttlSeconds: 900 };

describe('loadSigningKeys', () => {
  it('loads Ed25519 and P-256 keys with their algorithms', async () => {
    const keys = await loadSigningKeys(JSON.stringify({ keys: [ed, p256] }));
    expect(keys.map((k) => [k.kid, k.alg])).toEqual([
      ['ed-1', 'EdDSA'],
      ['p256-1', 'ES256'],
    ]);
  });

  it('rejects a curve it does not sign with, naming the key', async () => {
    const p384 = await privateJwk('ES384', 'p384-1');
    await expect(loadSigningKeys(JSON.stringify({ keys: [ed, p384] }))).rejects.toThrow(
      'signing key p384-1: unsupported curve P-384',
    );
  });

  it('rejects a key with no curve at all (e.g. a shared secret)', async () => {
    await expect(
      loadSigningKeys(JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' }] })),
    ).rejects.toThrow(/signing key hmac: unsupported curve/);
  });
});

describe('TokenIssuer', () => {
  it('signs access tokens that verify against its own JWKS, with the first key', async () => {
    const issuer = new TokenIssuer(await loadSigningKeys(JSON.stringify({ keys: [ed, p256] })), OPTS);
    const token = await issuer.accessToken('user-42');
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'EdDSA', kid: 'ed-1', typ: 'JWT' });
    const { payload } = await jwtVerify(token, createLocalJWKSet(issuer.jwks()), {
      issuer: OPTS.issuer,
      audience: OPTS.audience,
    });
    expect(payload.sub).toBe('user-42');
    expect(payload.exp! - payload.iat!).toBe(OPTS.ttlSeconds);
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(issuer.ttlSeconds).toBe(OPTS.ttlSeconds);
  });

  it('signs with a P-256 key when that one comes first', async () => {
    const issuer = new TokenIssuer(await loadSigningKeys(JSON.stringify({ keys: [p256, ed] })), OPTS);
    const token = await issuer.accessToken('user-1');
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'ES256', kid: 'p256-1' });
    await expect(jwtVerify(token, createLocalJWKSet(issuer.jwks()))).resolves.toBeDefined();
  });

  it('gives every token its own id', async () => {
    const issuer = new TokenIssuer(await loadSigningKeys(JSON.stringify({ keys: [ed] })), OPTS);
    const ids = new Set<unknown>();
    for (let i = 0; i < 5; i++) {
      const { payload } = await jwtVerify(await issuer.accessToken('u'), createLocalJWKSet(issuer.jwks()));
      ids.add(payload.jti);
    }
    expect(ids.size).toBe(5);
  });

  it('publishes every key, public half only', async () => {
    const issuer = new TokenIssuer(await loadSigningKeys(JSON.stringify({ keys: [ed, p256] })), OPTS);
    const { keys } = issuer.jwks();
    expect(keys.map((k) => k.kid)).toEqual(['ed-1', 'p256-1']);
    for (const key of keys) {
      expect(key).not.toHaveProperty('d');
      expect(key).toMatchObject({ use: 'sig' });
    }
    expect(keys.map((k) => k.alg)).toEqual(['EdDSA', 'ES256']);
    expect(JSON.stringify(keys)).not.toContain(ed.d);
  });

  it('makes tokens that a different key set refuses', async () => {
    const issuer = new TokenIssuer(await loadSigningKeys(JSON.stringify({ keys: [ed] })), OPTS);
    const other = new TokenIssuer(
      await loadSigningKeys(JSON.stringify({ keys: [await privateJwk('EdDSA', 'ed-1')] })),
      OPTS,
    );
    await expect(jwtVerify(await issuer.accessToken('u'), createLocalJWKSet(other.jwks()))).rejects.toThrow();
  });
});

describe('refresh tokens', () => {
  it('are 256 random bits, stored only as their SHA-256', () => {
    const a = newRefreshToken();
    const b = newRefreshToken();
    expect(Buffer.from(a.token, 'base64url')).toHaveLength(32);
    expect(a.token).not.toBe(b.token);
    expect(a.hash.equals(refreshTokenHash(a.token))).toBe(true);
    expect(a.hash).toHaveLength(32);
    expect(a.hash.equals(b.hash)).toBe(false);
  });
});
