// Access-token verification at the edge of the API: the users service's public keys (its JWKS, fetched
// through the same replicas the gateway routes to, cached), EdDSA/ES256 only, issuer and audience
// checked. A token signed by a key we haven't seen makes us refetch the JWKS — at most every 10 s, so
// garbage tokens can't turn into a request flood on the users service.
import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import { createLocalJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import type { UpstreamGroup } from './upstreams.ts';

const MIN_REFETCH_MS = 10_000;

export class TokenVerifier {
  private keys: JWTVerifyGetKey | undefined;
  private fetchedAt = 0;
  private inflight: Promise<void> | undefined;
  private readonly opts: { users: UpstreamGroup; issuer: string; audience: string; cacheSeconds: number };

  constructor(opts: { users: UpstreamGroup; issuer: string; audience: string; cacheSeconds: number }) {
    this.opts = opts;
  }

  /** The verified subject, or undefined for a token that is not valid (the reason is not told). */
  async subject(token: string): Promise<string | undefined> {
    if (!this.keys || Date.now() - this.fetchedAt > this.opts.cacheSeconds * 1000) await this.refresh();
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
    });
    return typeof payload.sub === 'string' ? payload.sub : undefined;
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
        const jwks = (await res.body.json()) as JSONWebKeySet;
        this.keys = createLocalJWKSet(jwks);
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
