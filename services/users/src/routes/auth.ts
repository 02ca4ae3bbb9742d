// /v1/auth/*: register, login, refresh (rotating), logout. Answers never tell whether an email has an
// account: registering a taken address looks like a success (the account is not touched), and a login
// with an unknown address costs the same password check as a wrong password.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ProblemSchema } from '@taskfleet/service';
import type { FastifyReply } from 'fastify';
import type { Config } from '../config.ts';
import { UsersErrors } from '../errors.ts';
import { Credentials, Login, RefreshRequest, Registered, TokenPair } from '../schemas.ts';
import {
  createUser,
  findByEmail,
  revokeFamilyOf,
  rotate,
  startFamily,
  updatePasswordHash,
} from '../users-repository.ts';

// A dependency that is down, or a full hashing queue, is a 503 by the error handler (isDependencyDown).
const authRoutes: FastifyPluginAsyncTypebox<{ config: Config }> = async (app, { config }) => {
  const { usersDb: db, passwords: hasher, tokenIssuer: issuer, authEvents } = app;

  async function tokens(reply: FastifyReply, userId: string, refreshToken: string) {
    reply.header('cache-control', 'no-store');
    return {
      accessToken: await issuer.accessToken(userId),
      tokenType: 'Bearer' as const,
      expiresIn: issuer.ttlSeconds,
      refreshToken,
    };
  }

  app.post(
    '/v1/auth/register',
    {
      schema: {
        tags: ['auth'],
        summary: 'Create an account',
        body: Credentials,
        response: { 201: Registered, '4xx': ProblemSchema },
      },
    },
    async (request, reply) => {
      const email = request.body.email.trim();
      const passwordHash = await hasher.hash(request.body.password);
      const created = await createUser(db, { id: crypto.randomUUID(), email, passwordHash });
      authEvents.inc({ event: 'register', outcome: created ? 'created' : 'email_taken' });
      return reply.code(201).header('cache-control', 'no-store').send({ email });
    },
  );

  app.post(
    '/v1/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Log in',
        body: Login,
        response: { 200: TokenPair, '4xx': ProblemSchema },
      },
    },
    async (request, reply) => {
      const { email, password } = request.body;
      const user = await findByEmail(db, email.trim());
      const ok = await hasher.verify(user?.passwordHash, password);
      if (!ok || !user) {
        authEvents.inc({ event: 'login', outcome: 'rejected' });
        throw new UsersErrors.INVALID_CREDENTIALS();
      }
      if (hasher.needsRehash(user.passwordHash))
        await updatePasswordHash(db, user.id, await hasher.hash(password));
      const refreshToken = await startFamily(db, user.id, config.REFRESH_TOKEN_TTL_DAYS);
      authEvents.inc({ event: 'login', outcome: 'ok' });
      return tokens(reply, user.id, refreshToken);
    },
  );

  app.post(
    '/v1/auth/refresh',
    {
      schema: {
        tags: ['auth'],
        summary: 'Trade a refresh token for a new pair (the old one stops working)',
        body: RefreshRequest,
        response: { 200: TokenPair, '4xx': ProblemSchema },
      },
    },
    async (request, reply) => {
      const result = await rotate(db, request.body.refreshToken, config.REFRESH_TOKEN_TTL_DAYS);
      authEvents.inc({ event: 'refresh', outcome: result.outcome });
      if (result.outcome === 'reused')
        request.log.warn('a used refresh token was presented again: its whole family is revoked');
      if (result.outcome !== 'rotated') throw new UsersErrors.INVALID_REFRESH_TOKEN();
      return tokens(reply, result.userId, result.token);
    },
  );

  app.post(
    '/v1/auth/logout',
    {
      schema: {
        tags: ['auth'],
        summary: 'End the session of this refresh token (every token of its family)',
        body: RefreshRequest,
        response: { 204: { type: 'null' }, '4xx': ProblemSchema },
      },
    },
    async (request, reply) => {
      await revokeFamilyOf(db, request.body.refreshToken);
      authEvents.inc({ event: 'logout', outcome: 'ok' });
      return reply.code(204).send(null);
    },
  );
};

export default authRoutes;
