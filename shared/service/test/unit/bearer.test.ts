// The one bearer-token verifier, with keys made for the test and key sources that fail on demand —
// the failure semantics every service shares (401 for a bad token, 503 while keys can't be had).
import { randomUUID } from 'node:crypto';
import type { CryptoKey } from 'jose';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import { BearerVerifier } from '../../src/bearer.ts';

const issuer = 'taskfleet-users';
const audience = 'taskfleet-api';

async function signingKey(kid: string) {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' } };
}
type Key = Awaited<ReturnType<typeof signingKey>>;
const jwks = (...keys: Key[]) => JSON.stringify({ keys: keys.map((k) => k.jwk) });

function token(key: { kid: string; privateKey: CryptoKey }, claims: { sub?: string; exp?: string } = {}) {
  const jwt = new SignJWT({})
    .setProtectedHeader({ alg: 'EdDSA', kid: key.kid })
    .setIssuer(issuer)
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime(claims.exp ?? '5m');
  if (claims.sub !== '') jwt.setSubject(claims.sub ?? randomUUID());
  return jwt.sign(key.privateKey);
}

/** A verifier whose key source answers with `answer()` and counts its calls. */
function verifierWith(answer: () => string) {
  const source = vi.fn(async () => answer());
  return { source, verifier: new BearerVerifier({ keys: source, issuer, audience, refreshSeconds: 300 }) };
}

describe('BearerVerifier', () => {
  it('accepts a valid token, with its subject, and checks its signature only once', async () => {
    const key = await signingKey('k1');
    const { verifier, source } = verifierWith(() => jwks(key));
    const sub = randomUUID();
    const bearer = `Bearer ${await token(key, { sub })}`;
    expect(await verifier.verify(bearer)).toEqual({ ok: true, subject: sub });
    expect(await verifier.verify(bearer)).toEqual({ ok: true, subject: sub });
    expect(source).toHaveBeenCalledTimes(1);
  });

  it('lets requests that arrive during the first fetch wait for it instead of answering 503', async () => {
    const key = await signingKey('k1');
    let answer!: (text: string) => void;
    const source = vi.fn(() => new Promise<string>((resolve) => (answer = resolve)));
    const verifier = new BearerVerifier({ keys: source, issuer, audience, refreshSeconds: 300 });
    const bearer = `Bearer ${await token(key)}`;
    const verdicts = Promise.all([verifier.verify(bearer), verifier.verify(bearer), verifier.verify(bearer)]);
    answer(jwks(key));
    expect((await verdicts).map((v) => v.ok)).toEqual([true, true, true]);
    expect(source).toHaveBeenCalledTimes(1);
  });

  it.each([
    ['no header', undefined],
    ['another scheme', 'Basic dXNlcjpwYXNz'],
    ['not a JWT', 'Bearer not-a-token'],
  ])('answers %s as missing (401), without fetching keys', async (_, header) => {
    const { verifier, source } = verifierWith(() => '{"keys":[]}');
    expect(await verifier.verify(header)).toMatchObject({ ok: false, reason: 'missing' });
    expect(source).not.toHaveBeenCalled();
  });

  it('rejects expired, foreign-signed and subject-less tokens as invalid (401)', async () => {
    const key = await signingKey('k1');
    const stranger = await signingKey('k1'); // same kid, other key: a forgery
    const { verifier } = verifierWith(() => jwks(key));
    for (const t of [
      await token(key, { exp: '-1m' }),
      await token(stranger),
      await token(key, { sub: '' }),
      await token(key, { sub: 'not-a-uuid' }),
    ])
      expect(await verifier.verify(`Bearer ${t}`)).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('says keys_unavailable (503), never invalid, while no key set could be fetched — then verifies', async () => {
    const key = await signingKey('k1');
    let up = false;
    const { verifier, source } = verifierWith(() => {
      if (!up) throw new Error('users service unreachable');
      return jwks(key);
    });
    const bearer = `Bearer ${await token(key)}`;
    expect(await verifier.verify(bearer)).toMatchObject({ ok: false, reason: 'keys_unavailable' });
    // Not a fetch per request while the source is down: the next try waits a second.
    expect(await verifier.verify(bearer)).toMatchObject({ ok: false, reason: 'keys_unavailable' });
    expect(source).toHaveBeenCalledTimes(1);
    up = true;
    vi.useFakeTimers({ now: Date.now() + 11_000, toFake: ['Date'] }); // past the refetch back-off
    try {
      expect(await verifier.verify(bearer)).toMatchObject({ ok: true });
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps verifying with the keys it has while the source is down', async () => {
    const key = await signingKey('k1');
    let up = true;
    const { verifier } = verifierWith(() => {
      if (!up) throw new Error('users service unreachable');
      return jwks(key);
    });
    expect(await verifier.verify(`Bearer ${await token(key)}`)).toMatchObject({ ok: true });
    up = false;
    vi.useFakeTimers({ now: Date.now() + 301_000, toFake: ['Date'] }); // the key set is due a refresh
    try {
      expect(await verifier.verify(`Bearer ${await token(key)}`)).toMatchObject({ ok: true });
    } finally {
      vi.useRealTimers();
    }
  });

  it('fetches again for a key it has not seen, at most every 10 s, and forgets tokens of a withdrawn key', async () => {
    const [old, rotated] = [await signingKey('old'), await signingKey('new')];
    let published = jwks(old);
    const { verifier, source } = verifierWith(() => published);
    const oldToken = `Bearer ${await token(old)}`;
    expect(await verifier.verify(oldToken)).toMatchObject({ ok: true });

    published = jwks(rotated); // the old key withdrawn, the new one published
    const newToken = `Bearer ${await token(rotated)}`;
    // Right after a fetch, an unknown key is not a reason to fetch again (garbage can't flood the source).
    expect(await verifier.verify(newToken)).toMatchObject({ ok: false, reason: 'invalid' });
    expect(source).toHaveBeenCalledTimes(1);
    vi.useFakeTimers({ now: Date.now() + 11_000, toFake: ['Date'] });
    try {
      expect(await verifier.verify(newToken)).toMatchObject({ ok: true });
      expect(source).toHaveBeenCalledTimes(2);
      // The key set changed: the remembered old token is checked again, and its key is gone.
      expect(await verifier.verify(oldToken)).toMatchObject({ ok: false, reason: 'invalid' });
    } finally {
      vi.useRealTimers();
    }
  });

  it('stops honouring a remembered token once a scheduled refresh finds its key withdrawn', async () => {
    const [old, rotated] = [await signingKey('old'), await signingKey('new')];
    let published = jwks(old);
    const { verifier } = verifierWith(() => published);
    const remembered = `Bearer ${await token(old)}`;
    expect(await verifier.verify(remembered)).toMatchObject({ ok: true });
    published = jwks(rotated);
    vi.useFakeTimers({ now: Date.now() + 301_000, toFake: ['Date'] }); // past refreshSeconds
    try {
      expect(await verifier.verify(remembered)).toMatchObject({ ok: false, reason: 'invalid' });
    } finally {
      vi.useRealTimers();
    }
  });
});
