// POST /v1/auth/token (OAuth 2.0 client credentials) against real Postgres through PgBouncer: both ways of
// authenticating a client (RFC 6749 §2.3.1), the token it gives verifying like a login's, and every
// refusal as problem+json.
import type { FastifyInstance, InjectOptions } from 'fastify';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildUsers, PASSWORD, post, uniqueEmail } from './helper.ts';

let app: FastifyInstance;
let email: string;
beforeAll(async () => {
  app = await buildUsers();
  // An address with characters Basic credentials must form-encode (RFC 6749 §2.3.1).
  email = uniqueEmail('probe+client');
  expect((await post(app, '/v1/auth/register', { email, password: PASSWORD })).statusCode).toBe(201);
});
afterAll(async () => {
  await app?.close();
});

const FORM = 'application/x-www-form-urlencoded';
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const token = (body: string, headers: Record<string, string> = {}, opts: Partial<InjectOptions> = {}) =>
  app.inject({
    method: 'POST',
    url: '/v1/auth/token',
    payload: body,
    headers: { 'content-type': FORM, ...headers },
    ...opts,
  });
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

function expectProblem(res: Awaited<ReturnType<typeof token>>, status: number, code: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.json()).toMatchObject({ status, code });
}

describe('POST /v1/auth/token, grant_type=client_credentials', () => {
  it('issues a bearer token for HTTP Basic credentials, verifiable with the JWKS', async () => {
    const res = await token(form({ grant_type: 'client_credentials' }), {
      authorization: basic(email, PASSWORD),
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers.pragma).toBe('no-cache');
    const body = res.json() as { access_token: string; token_type: string; expires_in: number };
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'token_type']);
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
    const jwks = (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json();
    const { payload } = await jwtVerify(body.access_token, createLocalJWKSet(jwks));
    const me = await app.inject({
      method: 'GET',
      url: '/v1/users/me',
      headers: { authorization: `Bearer ${body.access_token}` },
    });
    expect(me.json()).toMatchObject({ id: payload.sub, email });
  });

  it('takes the credentials from the form body too (client_id, client_secret), and JSON', async () => {
    const fromForm = await token(
      form({ grant_type: 'client_credentials', client_id: email, client_secret: PASSWORD, scope: 'api' }),
    );
    expect(fromForm.statusCode, fromForm.body).toBe(200);
    const fromJson = await post(app, '/v1/auth/token', {
      grant_type: 'client_credentials',
      client_id: email.toUpperCase(), // addresses compare case-insensitively, as at login
      client_secret: PASSWORD,
    });
    expect(fromJson.statusCode, fromJson.body).toBe(200);
  });

  it('refuses a wrong password and an unknown account alike: 401, problem+json, a Basic challenge', async () => {
    for (const id of [email, uniqueEmail('nobody')]) {
      const res = await token(form({ grant_type: 'client_credentials' }), {
        authorization: basic(id, 'not the password at all'),
      });
      expectProblem(res, 401, 'USERS_ERR_INVALID_CREDENTIALS');
      expect(res.headers['www-authenticate']).toMatch(/^Basic realm="taskfleet"/);
    }
    const inBody = await token(
      form({ grant_type: 'client_credentials', client_id: email, client_secret: 'wrong wrong wrong' }),
    );
    expectProblem(inBody, 401, 'USERS_ERR_INVALID_CREDENTIALS');
  });

  it('answers 400 for any other grant type, or none', async () => {
    for (const grant of ['password', 'authorization_code', '']) {
      const res = await token(form({ grant_type: grant }), { authorization: basic(email, PASSWORD) });
      expectProblem(res, 400, 'USERS_ERR_VALIDATION');
    }
    const none = await token(form({ client_id: email, client_secret: PASSWORD }));
    expectProblem(none, 400, 'USERS_ERR_VALIDATION');
  });

  it('answers 401 with a challenge when no credentials come, 400 when half of them or both kinds do', async () => {
    const missing = await token(form({ grant_type: 'client_credentials' }));
    expectProblem(missing, 401, 'USERS_ERR_UNAUTHORIZED');
    expect(missing.headers['www-authenticate']).toMatch(/^Basic /);
    expectProblem(
      await token(form({ grant_type: 'client_credentials', client_id: email })),
      400,
      'USERS_ERR_VALIDATION',
    );
    expectProblem(
      await token(form({ grant_type: 'client_credentials', client_id: email, client_secret: PASSWORD }), {
        authorization: basic(email, PASSWORD),
      }),
      400,
      'USERS_ERR_VALIDATION',
    );
  });

  it('refuses malformed input: bad Basic, repeated or unknown parameters, out-of-bounds credentials', async () => {
    const grant = form({ grant_type: 'client_credentials' });
    const badBasic = await token(grant, { authorization: 'Basic %%%' });
    expectProblem(badBasic, 401, 'USERS_ERR_UNAUTHORIZED');
    expect(badBasic.headers['www-authenticate']).toMatch(/^Basic /);
    expectProblem(
      await token(grant, { authorization: `Basic ${Buffer.from('no-colon').toString('base64')}` }),
      401,
      'USERS_ERR_UNAUTHORIZED',
    );
    expectProblem(await token(grant, { authorization: `Bearer x` }), 401, 'USERS_ERR_UNAUTHORIZED');
    expectProblem(
      await token('grant_type=client_credentials&grant_type=client_credentials', {
        authorization: basic(email, PASSWORD),
      }),
      400,
      'USERS_ERR_VALIDATION',
    );
    expectProblem(
      await token(`${grant}&redirect_uri=x`, { authorization: basic(email, PASSWORD) }),
      400,
      'USERS_ERR_VALIDATION',
    );
    // The login's bounds: a secret over 256 characters is never hashed, an id must be an email.
    expectProblem(
      await token(grant, { authorization: basic(email, 'x'.repeat(257)) }),
      400,
      'USERS_ERR_VALIDATION',
    );
    expectProblem(
      await token(grant, { authorization: basic('not-an-email', PASSWORD) }),
      400,
      'USERS_ERR_VALIDATION',
    );
    expectProblem(
      await token(
        form({ grant_type: 'client_credentials', client_id: email, client_secret: 'y'.repeat(257) }),
      ),
      400,
      'USERS_ERR_VALIDATION',
    );
    expectProblem(
      await token(grant, { 'content-type': 'application/xml', authorization: basic(email, PASSWORD) }),
      415,
      'USERS_ERR_UNSUPPORTED_MEDIA_TYPE',
    );
  });
});
