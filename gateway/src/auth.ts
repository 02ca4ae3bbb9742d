// Access-token verification at the edge of the API: the users service's public keys (its JWKS, fetched
// through the same replicas the gateway routes to, cached), EdDSA/ES256 only, issuer and audience
// checked. A token signed by a key we haven't seen makes us refetch the JWKS — at most every 10 s, so
// garbage tokens can't turn into a request flood on the users service.
import { VerifiedTokens } from '@taskfleet/service';
import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import { createLocalJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import type { UpstreamGroup } from './upstreams.ts';

const MIN_REFETCH_MS = 10_000;

export class TokenVerifier {
  private keys: JWTVerifyGetKey | undefined;
  private fetchedAt = 0;
  private inflight: Promise<void> | undefined;
  private jwksText = '';
  /** Tokens verified before: their signature is not checked again until they expire. */
  private readonly verified = new VerifiedTokens();
  private readonly opts: { users: UpstreamGroup; issuer: string; audience: string; cacheSeconds: number };

  constructor(opts: { users: UpstreamGroup; issuer: string; audience: string; cacheSeconds: number }) {
    this.opts = opts;
  }

  /** The verified subject, or undefined for a token that is not valid (the reason is not told). */
  async subject(token: string): Promise<string | undefined> {
    if (!this.keys || Date.now() - this.fetchedAt > this.opts.cacheSeconds * 1000) await this.refresh();
    const known = this.verified.get(token);
    if (known) return known.sub;
    try {
      return await this.verify(token);
    } catch (err) {
      if (!(err instanceof joseErrors.JWKSNoMatchingKey) || Date.now() - this.fetchedAt < MIN_REFETCH_MS)
        return undefined;
      await this.refresh(); // a key published since our last fetch
      return this.verify(token).catch(() => undefined);
    }
  }

  private async verify(token: string): Promise<string | undefined> {
    if (!this.keys) return undefined;
    const { payload } = await jwtVerify(token, this.keys, {
      issuer: this.opts.issuer,
      audience: this.opts.audience,
      algorithms: ['EdDSA', 'ES256'],
      requiredClaims: ['exp', 'sub'],
    });
    if (typeof payload.sub !== 'string' || typeof payload.exp !== 'number') return undefined;
    this.verified.remember(token, { sub: payload.sub, exp: payload.exp });
    return payload.sub;
  }

  private refresh(): Promise<void> {
    this.inflight ??= this.fetchJwks().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async fetchJwks(): Promise<void> {
    for (const upstream of this.opts.users.upstreams) {
      try {
        const res = await upstream.pool.request({
          method: 'GET',
          path: '/.well-known/jwks.json',
          headersTimeout: 2_000,
          bodyTimeout: 2_000,
        });
        if (res.statusCode !== 200) {
          await res.body.dump();
          continue;
        }
        const text = await res.body.text();
        // A changed key set (a key withdrawn, say) must not leave tokens it no longer covers honoured.
        if (text !== this.jwksText) this.verified.clear();
        this.jwksText = text;
        this.keys = createLocalJWKSet(JSON.parse(text) as JSONWebKeySet);
        this.fetchedAt = Date.now();
        return;
      } catch {
        // the next replica
      }
    }
    // No replica answered: keep the keys we had (tokens keep verifying while the users service is down).
    this.fetchedAt = Date.now() - this.opts.cacheSeconds * 1000 + MIN_REFETCH_MS;
  }
}
