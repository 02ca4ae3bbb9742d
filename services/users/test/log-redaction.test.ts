// Credentials never reach the logs: the users service with the logger every service runs with
// (serviceLogger, here at the most verbose level and into a stream of the test's), given requests that
// carry a bearer token, a cookie and passwords and that answer with tokens, and log calls shaped the way
// a careless one would be. Not one captured line may hold a secret.
import { Writable } from 'node:stream';
import { serviceLogger } from '@taskfleet/service';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { ensureMigrated, post, SIGNING_KEYS, stack, uniqueEmail } from './helper.ts';

const lines: string[] = [];
const capture = new Writable({
  write(chunk, _encoding, done) {
    lines.push(...chunk.toString().split('\n').filter(Boolean));
    done();
  },
});

let app: FastifyInstance;
beforeAll(async () => {
  await ensureMigrated();
  const logger = serviceLogger('trace') as Exclude<FastifyServerOptions['logger'], boolean | undefined>;
  app = await buildApp(loadConfig({ ...stack.env, AUTH_SIGNING_KEYS: SIGNING_KEYS, LOG_LEVEL: 'trace' }), {
    logger: { ...logger, stream: capture },
  });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
});

const secret = (what: string) => `${what}-${crypto.randomUUID()}`;

describe('log redaction', () => {
  it('keeps passwords, tokens and cookies of real requests out of every log line', async () => {
    const password = secret('password');
    const wrongPassword = secret('wrong-password');
    const bearer = secret('bearer');
    const cookie = `session=${secret('cookie')}`;
    const headers = { authorization: `Bearer ${bearer}`, cookie };
    const email = uniqueEmail('redact');

    expect((await post(app, '/v1/auth/register', { email, password }, { headers })).statusCode).toBe(201);
    expect(
      (await post(app, '/v1/auth/login', { email, password: wrongPassword }, { headers })).statusCode,
    ).toBe(401);
    const login = await post(app, '/v1/auth/login', { email, password }, { headers });
    expect(login.statusCode).toBe(200);
    const { accessToken, refreshToken } = login.json() as { accessToken: string; refreshToken: string };
    // Rejected input (an unknown field beside the password) is logged as a rejection.
    expect(
      (await post(app, '/v1/auth/login', { email, password, extra: password }, { headers })).statusCode,
    ).toBe(400);
    const refreshed = await post(app, '/v1/auth/refresh', { refreshToken }, { headers });
    expect(refreshed.statusCode).toBe(200);
    expect(
      (
        await app.inject({
          method: 'GET',
          url: '/v1/users/me',
          headers: { authorization: `Bearer ${accessToken}` },
        })
      ).statusCode,
    ).toBe(200);
    // A token that fails verification is logged with its reason, never itself.
    expect(
      (
        await app.inject({
          method: 'GET',
          url: '/v1/users/me',
          headers: { authorization: `Bearer ${bearer}` },
        })
      ).statusCode,
    ).toBe(401);

    // The requests were logged (one access-log line each) …
    expect(lines.filter((l) => l.includes('"request completed"')).length).toBeGreaterThanOrEqual(7);
    // … and no line holds any of the secrets.
    const secrets = [
      password,
      wrongPassword,
      bearer,
      cookie,
      accessToken,
      refreshToken,
      (refreshed.json() as { refreshToken: string }).refreshToken,
    ];
    for (const line of lines) for (const s of secrets) expect(line).not.toContain(s);
  });

  it('censors the credential headers and secret fields of anything logged', async () => {
    const values = {
      authorization: secret('authorization'),
      cookie: secret('cookie'),
      setCookie: secret('set-cookie'),
      password: secret('password'),
      refreshToken: secret('refresh'),
      accessToken: secret('access'),
      token: secret('token'),
    };
    const marker = `careless ${crypto.randomUUID()}`;
    app.log.info(
      {
        request: { method: 'POST', headers: { authorization: values.authorization, cookie: values.cookie } },
        upstream: { statusCode: 200, headers: { 'set-cookie': values.setCookie } },
        headers: { authorization: values.authorization },
        password: values.password,
        body: { email: 'me@example.test', refreshToken: values.refreshToken },
        session: { tokens: { accessToken: values.accessToken, token: values.token } },
      },
      marker,
    );
    const line = lines.find((l) => l.includes(marker));
    expect(line).toBeDefined();
    for (const value of Object.values(values)) expect(line).not.toContain(value);
    // Under `req` and `res`, Fastify's serializers keep no headers at all.
    app.log.info(
      { req: { method: 'GET', url: '/', headers: { authorization: values.authorization } } },
      marker,
    );
    expect(lines.filter((l) => l.includes(marker))).toHaveLength(2);
    for (const l of lines) expect(l).not.toContain(values.authorization);
    expect(JSON.parse(line!)).toMatchObject({
      request: { method: 'POST', headers: { authorization: '[redacted]', cookie: '[redacted]' } },
      upstream: { statusCode: 200, headers: { 'set-cookie': '[redacted]' } },
      headers: { authorization: '[redacted]' },
      password: '[redacted]',
      body: { email: 'me@example.test', refreshToken: '[redacted]' },
      session: { tokens: { accessToken: '[redacted]', token: '[redacted]' } },
    });
  });
});
