// The one verifier of access tokens, used by the gateway, the task service and the users service:
// EdDSA/ES256 JWTs of the users service, issuer and audience checked, a UUID subject required, tokens
// verified before remembered until they expire (VerifiedTokens, ADR 0008).
//
// Failure semantics, the same everywhere:
// - no or malformed `Authorization: Bearer` header, bad signature, expired, wrong issuer/audience,
//   no valid subject → 401 (the reason is logged, not told);
// - verification keys not fetched yet (the users service is unreachable since this process started)
//   → 503 with Retry-After: the token may be perfectly valid, and the client should retry, not log in;
// - keys fetched before and the users service away now → the keys we have keep verifying.
// Keys are re-fetched every `refreshSeconds`, and early (at most every 10 s) when a token names a key
// we don't have — a key published since, without letting garbage tokens flood the users service.
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import { createLocalJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import type { CommonErrors } from './errors.ts';
import { VerifiedTokens } from './verified-tokens.ts';

const ALGORITHMS = ['EdDSA', 'ES256'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/;
const MIN_REFETCH_MS = 10_000;
const NO_KEYS_RETRY_MS = 1_000;

/** Where the public keys come from: the JWKS document's text, or a rejection when it can't be had. */
export type KeySource = () => Promise<string>;

/** A JWKS served over HTTP (the users service's /.well-known/jwks.json). */
export const jwksFromUrl =
  (url: string, timeoutMs = 2_000): KeySource =>
  async () => {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new Error(`${url} answered ${res.status}`);
    return res.text();
  };

/** A JWKS given inline (configuration, or the issuer's own keys). */
export const jwksFromText =
  (text: string): KeySource =>
  async () =>
    text;

export type Verdict =
  | { ok: true; subject: string }
  | { ok: false; reason: 'missing' | 'invalid'; detail: string }
  | { ok: false; reason: 'keys_unavailable'; detail: string };

export interface BearerOptions {
  keys: KeySource;
  issuer: string;
  audience: string;
  /** How long a fetched key set is used before it is fetched again. */
  refreshSeconds: number;
}

export class BearerVerifier {
  readonly #opts: BearerOptions;
  readonly #verified = new VerifiedTokens();
  #keys: JWTVerifyGetKey | undefined;
  #jwksText = '';
  #fetchedAt = 0;
  #attemptedAt = Number.NEGATIVE_INFINITY;
  #inflight: Promise<void> | undefined;

  constructor(opts: BearerOptions) {
    this.#opts = opts;
  }

  /** The verdict on an Authorization header. Never throws for a bad token. */
  async verify(header: string | undefined): Promise<Verdict> {
    const token = header && BEARER.exec(header)?.[1];
    if (!token) return { ok: false, reason: 'missing', detail: 'send Authorization: Bearer <access token>' };
    // Refreshed first, even for a remembered token: a changed key set clears what it no longer covers.
    // A fetch already under way is waited for by everyone (the first requests after a start).
    if (this.#inflight) await this.#inflight;
    else if (this.#due()) await this.#refresh();
    const known = this.#verified.get(token);
    if (known) return { ok: true, subject: known.sub };
    if (!this.#keys)
      return {
        ok: false,
        reason: 'keys_unavailable',
        detail: 'the token verification keys are not loaded yet',
      };
    try {
      return await this.#check(token);
    } catch (err) {
      if (err instanceof joseErrors.JWKSNoMatchingKey && Date.now() - this.#fetchedAt >= MIN_REFETCH_MS) {
        await this.#refresh(); // a key published since our last fetch
        return this.#check(token).catch((e: unknown) => rejected(e));
      }
      return rejected(err);
    }
  }

  async #check(token: string): Promise<Verdict> {
    const { payload } = await jwtVerify(token, this.#keys!, {
      issuer: this.#opts.issuer,
      audience: this.#opts.audience,
      algorithms: ALGORITHMS,
      requiredClaims: ['exp', 'sub'],
    });
    if (typeof payload.sub !== 'string' || !UUID.test(payload.sub) || typeof payload.exp !== 'number')
      return { ok: false, reason: 'invalid', detail: 'the access token has no valid subject' };
    this.#verified.remember(token, { sub: payload.sub, exp: payload.exp });
    return { ok: true, subject: payload.sub };
  }

  /**
   * Whether to fetch the key set now: every `refreshSeconds` once we have one; without one, at most
   * every NO_KEYS_RETRY_MS — soon enough after the users service comes up, without a fetch per request
   * while it is down.
   */
  #due(): boolean {
    const now = Date.now();
    if (!this.#keys) return now - this.#attemptedAt >= NO_KEYS_RETRY_MS;
    return now - this.#fetchedAt > this.#opts.refreshSeconds * 1000;
  }

  #refresh(): Promise<void> {
    this.#inflight ??= this.#fetch().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #fetch(): Promise<void> {
    this.#attemptedAt = Date.now();
    try {
      const text = await this.#opts.keys();
      const keys = createLocalJWKSet(JSON.parse(text) as JSONWebKeySet);
      // A changed key set (a key withdrawn, say) must not leave tokens it no longer covers honoured.
      if (text !== this.#jwksText) this.#verified.clear();
      this.#jwksText = text;
      this.#keys = keys;
      this.#fetchedAt = Date.now();
    } catch {
      // Keep the keys we had, if any (tokens keep verifying while the users service is down), and try
      // again in MIN_REFETCH_MS rather than on every request.
      this.#fetchedAt = Date.now() - this.#opts.refreshSeconds * 1000 + MIN_REFETCH_MS;
    }
  }
}

function rejected(err: unknown): Verdict {
  const code = (err as { code?: string }).code ?? 'unknown';
  return { ok: false, reason: 'invalid', detail: `the access token is invalid or expired (${code})` };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified caller (user id), set by `app.authenticate`; '' on routes that don't require one. */
    subject: string;
  }
  interface FastifyInstance {
    /** Verify the request's bearer token (an onRequest hook): sets `request.subject`, or throws 401/503. */
    authenticate: (request: FastifyRequest) => Promise<void>;
  }
}

/** `app.authenticate` with the service's own error codes. */
export const bearerAuth = fp<{ verifier: BearerVerifier; errors: CommonErrors }>(
  async (app, { verifier, errors }) => {
    app.decorateRequest('subject', '');
    app.decorate('authenticate', async (request: FastifyRequest) => {
      const verdict = await verifier.verify(request.headers.authorization);
      if (verdict.ok) {
        request.subject = verdict.subject;
        return;
      }
      if (verdict.reason === 'keys_unavailable') {
        request.log.warn('no token verification keys yet: the users service has not answered');
        throw new errors.UNAVAILABLE();
      }
      request.log.info({ reason: verdict.detail }, 'access token rejected');
      throw new errors.UNAUTHORIZED(
        verdict.reason === 'missing' ? verdict.detail : 'the access token is invalid or expired',
      );
    });
  },
  { name: 'bearer-auth' },
);
