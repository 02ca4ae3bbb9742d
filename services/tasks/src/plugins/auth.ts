// Who is calling: a bearer access token (JWT) issued by the users service, verified here against its
// public keys (JWKS). The owner of every task operation is the token's subject — never a header or
// body field a client could set. See docs/adr/0002-identity-contract.md.
import { VerifiedTokens } from '@taskfleet/service';
import fp from 'fastify-plugin';
import type { JWTVerifyGetKey } from 'jose';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify } from 'jose';
import { TasksErrors } from '../errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified caller (user id); set by `app.authenticate`. */
    owner: string;
  }
  interface FastifyInstance {
    authenticate: (request: import('fastify').FastifyRequest) => Promise<void>;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ALGORITHMS = ['EdDSA', 'ES256'];

export default fp(
  async (app) => {
    const { AUTH_JWKS, AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE } = app.config;
    const keys: JWTVerifyGetKey = AUTH_JWKS
      ? createLocalJWKSet(JSON.parse(AUTH_JWKS))
      : createRemoteJWKSet(new URL(AUTH_JWKS_URL!), { cacheMaxAge: 10 * 60_000, cooldownDuration: 30_000 });
    const verified = new VerifiedTokens();
    app.decorateRequest('owner', '');
    app.decorate('authenticate', async (request) => {
      const header = request.headers.authorization;
      const match = header ? /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(header) : null;
      if (!match) throw new TasksErrors.UNAUTHORIZED('send Authorization: Bearer <access token>');
      const token = match[1]!;
      const known = verified.get(token);
      if (known) {
        request.owner = known.sub;
        return;
      }
      let sub: unknown;
      let exp: unknown;
      try {
        ({
          payload: { sub, exp },
        } = await jwtVerify(token, keys, {
          issuer: AUTH_ISSUER,
          audience: AUTH_AUDIENCE,
          algorithms: ALGORITHMS,
          requiredClaims: ['exp', 'sub'],
        }));
      } catch (err) {
        const code = (err as { code?: string }).code;
        // The key set could not be fetched (users service down): not the caller's fault.
        if (code === undefined || code === 'ERR_JWKS_TIMEOUT') {
          request.log.warn({ err }, 'could not load the token verification keys');
          throw new TasksErrors.UNAVAILABLE();
        }
        request.log.info({ reason: code }, 'access token rejected');
        throw new TasksErrors.UNAUTHORIZED('the access token is invalid or expired');
      }
      if (typeof sub !== 'string' || !UUID.test(sub))
        throw new TasksErrors.UNAUTHORIZED('the access token has no valid subject');
      verified.remember(token, { sub, exp: exp as number });
      request.owner = sub;
    });
  },
  { name: 'auth', dependencies: ['config'] },
);
