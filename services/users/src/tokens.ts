// Access tokens: short-lived JWTs signed with the service's private key (EdDSA or ES256 — never a shared
// secret: every other service verifies with the public JWKS). Refresh tokens: 256 random bits, opaque;
// only their SHA-256 is stored.
import { createHash, randomBytes } from 'node:crypto';
import type { CryptoKey, JWK } from 'jose';
import { importJWK, SignJWT } from 'jose';

const ALGORITHMS: Record<string, string> = { Ed25519: 'EdDSA', 'P-256': 'ES256' };

export interface SigningKey {
  kid: string;
  alg: string;
  key: CryptoKey | Uint8Array;
  publicJwk: JWK;
}

export async function loadSigningKeys(jwkSet: string): Promise<SigningKey[]> {
  const { keys } = JSON.parse(jwkSet) as { keys: JWK[] };
  return Promise.all(
    keys.map(async (jwk) => {
      const alg = ALGORITHMS[jwk.crv ?? ''];
      if (!alg) throw new Error(`signing key ${jwk.kid}: unsupported curve ${jwk.crv} (Ed25519 or P-256)`);
      const { d: _private, ...publicJwk } = jwk;
      return {
        kid: jwk.kid!,
        alg,
        key: await importJWK(jwk, alg),
        publicJwk: { ...publicJwk, alg, use: 'sig', kid: jwk.kid },
      };
    }),
  );
}

export class TokenIssuer {
  private readonly keys: SigningKey[];
  private readonly opts: { issuer: string; audience: string; ttlSeconds: number };

  constructor(keys: SigningKey[], opts: { issuer: string; audience: string; ttlSeconds: number }) {
    this.keys = keys;
    this.opts = opts;
  }

  get ttlSeconds(): number {
    return this.opts.ttlSeconds;
  }

  accessToken(userId: string): Promise<string> {
    const signer = this.keys[0]!;
    return new SignJWT({})
      .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'JWT' })
      .setSubject(userId)
      .setIssuer(this.opts.issuer)
      .setAudience(this.opts.audience)
      .setIssuedAt()
      .setExpirationTime(`${this.opts.ttlSeconds}s`)
      .setJti(crypto.randomUUID())
      .sign(signer.key);
  }

  /** The public half of every key, for verifiers (the gateway, the task service). */
  jwks(): { keys: JWK[] } {
    return { keys: this.keys.map((k) => k.publicJwk) };
  }
}

export function newRefreshToken(): { token: string; hash: Buffer } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: refreshTokenHash(token) };
}

export const refreshTokenHash = (token: string): Buffer => createHash('sha256').update(token).digest();
