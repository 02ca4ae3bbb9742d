// /v1/users/me and the JWKS that every verifier of our access tokens fetches.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { JWTVerifyGetKey } from 'jose';
import { createLocalJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import { UsersErrors } from '../errors.ts';
import { Me } from '../schemas.ts';
import { findById } from '../users-repository.ts';

const usersRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { config, db, issuer, dependency } = app.users;
  const keys: JWTVerifyGetKey = createLocalJWKSet(issuer.jwks());

  app.get('/.well-known/jwks.json', { schema: { hide: true } }, async (_request, reply) => {
    // Verifiers cache it; a new key is published well before it starts signing (see ADR 0005).
    reply.header('cache-control', 'public, max-age=300');
    return issuer.jwks();
  });

  app.get(
    '/v1/users/me',
    {
      schema: {
        tags: ['users'],
        summary: 'The calling user',
        security: [{ bearer: [] }],
        response: { 200: Me, '4xx': { 'application/problem+json': {} } },
      },
    },
    async (request) => {
      const header = request.headers.authorization ?? '';
      const match = /^Bearer ([\w-]+\.[\w-]+\.[\w-]+)$/.exec(header);
      if (!match) throw new UsersErrors.UNAUTHORIZED('send a bearer access token');
      let sub: string | undefined;
      try {
        ({
          payload: { sub },
        } = await jwtVerify(match[1]!, keys, {
          issuer: config.AUTH_ISSUER,
          audience: config.AUTH_AUDIENCE,
          algorithms: ['EdDSA', 'ES256'],
        }));
      } catch (err) {
        if (err instanceof joseErrors.JOSEError)
          throw new UsersErrors.UNAUTHORIZED('invalid or expired token');
        throw err;
      }
      const user = sub ? await dependency(findById(db, sub)) : undefined;
      if (!user) throw new UsersErrors.UNAUTHORIZED('invalid or expired token'); // deleted since
      return user;
    },
  );
};

export default usersRoutes;
