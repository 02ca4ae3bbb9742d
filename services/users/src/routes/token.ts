// POST /v1/auth/token: a standard OAuth 2.0 token endpoint for machine clients — the client credentials
// grant (RFC 6749 §4.4), where the client id is an account's email and its secret the password. Made for
// the synthetic probe (blackbox exporter's oauth2 client), usable by any OAuth 2.0 library. Clients
// authenticate with HTTP Basic or with client_id/client_secret in the form body (§2.3.1), never both.
// The password check is the login's: the same bounded argon2id verification, the same cost for an
// unknown account, the same answer for both.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ProblemSchema } from '@taskfleet/service';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { Value } from 'typebox/value';
import { UsersErrors } from '../errors.ts';
import { Login } from '../schemas.ts';
import { findByEmail, updatePasswordHash } from '../users-repository.ts';

const ClientId = Login.properties.email;
const ClientSecret = Login.properties.password;

const TokenRequest = Type.Object(
  {
    grant_type: Type.Literal('client_credentials', { description: 'the only grant this endpoint serves' }),
    client_id: Type.Optional(ClientId),
    client_secret: Type.Optional(ClientSecret),
    scope: Type.Optional(Type.String({ maxLength: 256, description: 'accepted and ignored: one scope' })),
  },
  { additionalProperties: false },
);
const TokenResponse = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ description: 'seconds until the access token expires' }),
});

const CHALLENGE = 'Basic realm="taskfleet", charset="UTF-8"';

/** application/x-www-form-urlencoded, each parameter at most once (RFC 6749 §3.2). */
function parseForm(body: string): Record<string, string> {
  const form: Record<string, string> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    if (key in form) throw new UsersErrors.VALIDATION(`body/${key} is given more than once`);
    form[key] = value;
  }
  return form;
}

/** Client id and secret from `Authorization: Basic`, each form-urlencoded before encoding (§2.3.1). */
function basicCredentials(header: string): { id: string; secret: string } | undefined {
  const m = /^Basic ([A-Za-z0-9+/]+={0,2})$/i.exec(header.trim());
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const formDecode = (s: string) => {
    try {
      return decodeURIComponent(s.replaceAll('+', ' '));
    } catch {
      return undefined;
    }
  };
  const id = formDecode(decoded.slice(0, colon));
  const secret = formDecode(decoded.slice(colon + 1));
  return id === undefined || secret === undefined ? undefined : { id, secret };
}

/** The client's credentials, from exactly one place; the same bounds as the login's body. */
function clientCredentials(
  request: FastifyRequest<{ Body: { client_id?: string; client_secret?: string } }>,
): { id: string; secret: string } {
  const header = request.headers.authorization;
  const { client_id: id, client_secret: secret } = request.body;
  if (header !== undefined) {
    if (id !== undefined || secret !== undefined)
      throw new UsersErrors.VALIDATION('authenticate with HTTP Basic or with the body, not both');
    const basic = basicCredentials(header);
    if (!basic) throw new UsersErrors.UNAUTHORIZED('the Authorization header is not valid HTTP Basic');
    // The same schemas as the body's (the login's bounds): nothing over 256 characters is hashed.
    if (!Value.Check(ClientId, basic.id))
      throw new UsersErrors.VALIDATION('the client id must be an account email');
    if (!Value.Check(ClientSecret, basic.secret))
      throw new UsersErrors.VALIDATION('the client secret must be 1 to 256 characters');
    return basic;
  }
  if (id === undefined && secret === undefined)
    throw new UsersErrors.UNAUTHORIZED(
      'client authentication required: HTTP Basic, or client_id and client_secret',
    );
  if (id === undefined || secret === undefined)
    throw new UsersErrors.VALIDATION('client_id and client_secret go together');
  return { id, secret };
}

const tokenRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { usersDb: db, passwords: hasher, tokenIssuer: issuer, authEvents } = app;

  // OAuth 2.0 clients send forms (RFC 6749 §4.4.2); JSON stays accepted like every other route here.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 4096 },
    (_request, body, done) => {
      try {
        done(null, parseForm(body as string));
      } catch (err) {
        done(err as Error, undefined);
      }
    },
  );

  // A client authenticates here with Basic, not with a bearer token: every 401 of this route says so
  // (the shared error handler's challenge is the API's, Bearer).
  app.addHook('onSend', async (_request, reply) => {
    if (reply.statusCode === 401) reply.header('www-authenticate', CHALLENGE);
  });

  app.post(
    '/v1/auth/token',
    {
      schema: {
        tags: ['auth'],
        summary: 'An access token for a client (OAuth 2.0 client credentials: email and password)',
        body: TokenRequest,
        response: { 200: TokenResponse, '4xx': ProblemSchema },
      },
    },
    async (request, reply) => {
      const client = clientCredentials(request);
      const user = await findByEmail(db, client.id.trim());
      const ok = await hasher.verify(user?.passwordHash, client.secret);
      if (!ok || !user) {
        authEvents.inc({ event: 'token', outcome: 'rejected' });
        throw new UsersErrors.INVALID_CREDENTIALS();
      }
      if (hasher.needsRehash(user.passwordHash))
        await updatePasswordHash(db, user.id, await hasher.hash(client.secret));
      authEvents.inc({ event: 'token', outcome: 'ok' });
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
      return {
        access_token: await issuer.accessToken(user.id),
        token_type: 'Bearer' as const,
        expires_in: issuer.ttlSeconds,
      };
    },
  );
};

export default tokenRoutes;
