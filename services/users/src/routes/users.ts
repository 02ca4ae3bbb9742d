// /v1/users/me and the JWKS that every verifier of our access tokens fetches.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ProblemSchema } from '@taskfleet/service';
import { UsersErrors } from '../errors.ts';
import { Me } from '../schemas.ts';
import { findById } from '../users-repository.ts';

const usersRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { usersDb: db, tokenIssuer: issuer } = app;

  app.get('/.well-known/jwks.json', { schema: { hide: true } }, async (_request, reply) => {
    // Verifiers cache it; a new key is published well before it starts signing (see ADR 0005).
    reply.header('cache-control', 'public, max-age=300');
    return issuer.jwks();
  });

  app.get(
    '/v1/users/me',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['users'],
        summary: 'The calling user',
        security: [{ bearer: [] }],
        response: { 200: Me, '4xx': ProblemSchema },
      },
    },
    async (request) => {
      const user = await findById(db, request.subject);
      if (!user) throw new UsersErrors.UNAUTHORIZED('the access token is invalid or expired'); // deleted since
      return user;
    },
  );
};

export default usersRoutes;
