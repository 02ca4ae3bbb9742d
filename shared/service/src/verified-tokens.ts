// Access tokens already verified, remembered until they expire. Checking an EdDSA signature with jose
// costs ≈150 µs of CPU (measured: docs/performance.md), every API request carries a token, and a client
// sends the same one for its whole 15-minute life: without this, signature checks were the largest
// single cost of a cached read in both the gateway and the task service.
//
// Only successful verifications are kept, keyed by the exact token string; an entry never outlives the
// token's `exp`, nor MAX_AGE_MS, so a key withdrawn from the JWKS stops being honoured within that
// bound even where nobody clears the cache (ADR 0008). Callers clear it when their key set changes.
import { LRUCache } from 'lru-cache';

const MAX_AGE_MS = 5 * 60_000;

export interface VerifiedClaims {
  sub: string;
  /** Expiry, seconds since the epoch (the JWT `exp`). */
  exp: number;
}

export class VerifiedTokens {
  private readonly cache: LRUCache<string, VerifiedClaims>;

  constructor(opts: { max?: number } = {}) {
    this.cache = new LRUCache({ max: opts.max ?? 10_000 });
  }

  /** The claims of `token` if it was verified before and has not expired since. */
  get(token: string): VerifiedClaims | undefined {
    const claims = this.cache.get(token);
    if (claims && claims.exp * 1000 <= Date.now()) {
      this.cache.delete(token);
      return undefined;
    }
    return claims;
  }

  /** Remember a token whose signature and claims were just verified. */
  remember(token: string, claims: VerifiedClaims): void {
    const ttl = Math.min(claims.exp * 1000 - Date.now(), MAX_AGE_MS);
    if (ttl > 0) this.cache.set(token, claims, { ttl });
  }

  clear(): void {
    this.cache.clear();
  }

  get size(): number {
    return this.cache.size;
  }
}
