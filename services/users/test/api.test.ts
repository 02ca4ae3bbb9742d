// The users API against real Postgres through PgBouncer: accounts, tokens, rotation with reuse
// detection, no enumeration, bad input, and the task service accepting the tokens it issues.
import { documentedErrors, errorTable } from '@taskfleet/infra';
import { build as buildTasks } from '@taskfleet/tasks/testing';
import type { FastifyInstance } from 'fastify';
import type { JWK } from 'jose';
import { createLocalJWKSet, decodeJwt, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsersErrors } from '../src/errors.ts';
import { hashPassword } from '../src/passwords.ts';
import { buildUsers, PASSWORD, post, stack, uniqueEmail } from './helper.ts';

let app: FastifyInstance;
const db = new pg.Pool({ ...stack.viaPgbouncer('primary'), max: 2 });
beforeAll(async () => {
  app = await buildUsers();
});
afterAll(async () => {
  await app?.close();
  await db.end();
});

async function register(email = uniqueEmail(), password = PASSWORD) {
  const res = await post(app, '/v1/auth/register', { email, password });
  expect(res.statusCode).toBe(201);
  return email;
}
async function login(email: string, password = PASSWORD) {
  const res = await post(app, '/v1/auth/login', { email, password });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { accessToken: string; refreshToken: string; expiresIn: number; tokenType: string };
}
const me = (token: string) =>
  app.inject({ method: 'GET', url: '/v1/users/me', headers: { authorization: `Bearer ${token}` } });
const expectProblem = (
  res: { statusCode: number; headers: Record<string, unknown>; json(): unknown },
  status: number,
  code: string,
) => {
  expect(res.statusCode).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect((res.json() as { code: string }).code).toBe(code);
};

describe('register, login, me', () => {
  it('registers, logs in, and knows who the token belongs to', async () => {
    const email = await register();
    const tokens = await login(email.toUpperCase()); // addresses compare case-insensitively
    expect(tokens.tokenType).toBe('Bearer');
    expect(tokens.expiresIn).toBe(900);
    const res = await me(tokens.accessToken);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ email });
    expect(res.json().id).toBe(decodeJwt(tokens.accessToken).sub);
  });

  it('issues short-lived EdDSA tokens that verify with the published JWKS only', async () => {
    const tokens = await login(await register());
    const jwksRes = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(jwksRes.headers['cache-control']).toMatch(/max-age=\d+/);
    const jwks = jwksRes.json() as { keys: JWK[] };
    expect(jwks.keys.every((k) => k.d === undefined)).toBe(true); // never the private part
    const { payload, protectedHeader } = await jwtVerify(tokens.accessToken, createLocalJWKSet(jwks), {
      issuer: 'taskfleet-users',
      audience: 'taskfleet-api',
    });
    expect(protectedHeader.alg).toBe('EdDSA');
    expect(payload.exp! - payload.iat!).toBe(900);
    expect(payload.jti).toBeTruthy();
  });

  it('stores argon2id hashes, and upgrades a weaker one at the next login', async () => {
    const email = await register();
    const stored = async () =>
      (await db.query('select password_hash from users.users where lower(email) = lower($1)', [email]))
        .rows[0].password_hash as string;
    expect(await stored()).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    const weak = await hashPassword(PASSWORD, { memoryCost: 4096, timeCost: 1 });
    await db.query('update users.users set password_hash = $2 where lower(email) = lower($1)', [email, weak]);
    await login(email);
    expect(await stored()).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });
});

describe('no user enumeration', () => {
  it('answers a taken address exactly like a new one, and leaves the account alone', async () => {
    const email = await register();
    const again = await post(app, '/v1/auth/register', {
      email: email.toUpperCase(),
      password: 'another password 123',
    });
    const fresh = await post(app, '/v1/auth/register', { email: uniqueEmail(), password: PASSWORD });
    expect(again.statusCode).toBe(fresh.statusCode);
    expect(Object.keys(again.json())).toEqual(Object.keys(fresh.json()));
    await login(email); // the original password still works
    expectProblem(
      await post(app, '/v1/auth/login', { email, password: 'another password 123' }),
      401,
      'USERS_ERR_INVALID_CREDENTIALS',
    );
  });

  it('answers an unknown address exactly like a wrong password, in about the same time', async () => {
    const email = await register();
    const attempt = async (address: string) => {
      const start = performance.now();
      const res = await post(app, '/v1/auth/login', { email: address, password: 'wrong password 123' });
      return { res, ms: performance.now() - start };
    };
    const wrong = [];
    const unknown = [];
    for (let i = 0; i < 9; i++) {
      wrong.push(await attempt(email));
      unknown.push(await attempt(uniqueEmail('nobody')));
    }
    for (const { res } of [...wrong, ...unknown]) expectProblem(res, 401, 'USERS_ERR_INVALID_CREDENTIALS');
    expect(new Set([...wrong, ...unknown].map(({ res }) => res.json().detail)).size).toBe(1);
    // Both spend one argon2id verification (≈35 ms here): an unknown address is not answered early.
    const median = (xs: { ms: number }[]) => xs.map((x) => x.ms).sort((a, b) => a - b)[4]!;
    const ratio = median(unknown) / median(wrong);
    // biome-ignore lint/suspicious/noConsole: reported figure
    console.log(
      `login median: wrong password ${median(wrong).toFixed(1)} ms, unknown email ${median(unknown).toFixed(1)} ms`,
    );
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
  });
});

describe('refresh tokens', () => {
  it('rotates: a refresh gives a new pair and the old refresh token stops working', async () => {
    const first = await login(await register());
    const second = await post(app, '/v1/auth/refresh', { refreshToken: first.refreshToken });
    expect(second.statusCode).toBe(200);
    expect(second.headers['cache-control']).toBe('no-store');
    const pair = second.json();
    expect(pair.refreshToken).not.toBe(first.refreshToken);
    expect((await me(pair.accessToken)).statusCode).toBe(200);
    const third = await post(app, '/v1/auth/refresh', { refreshToken: pair.refreshToken });
    expect(third.statusCode).toBe(200);
  });

  it('treats reuse of a rotated token as theft: the whole family is revoked', async () => {
    const first = await login(await register());
    const second = (await post(app, '/v1/auth/refresh', { refreshToken: first.refreshToken })).json();
    // The attacker replays the old token …
    expectProblem(
      await post(app, '/v1/auth/refresh', { refreshToken: first.refreshToken }),
      401,
      'USERS_ERR_INVALID_REFRESH_TOKEN',
    );
    // … and the legitimate holder's newer token is dead too.
    expectProblem(
      await post(app, '/v1/auth/refresh', { refreshToken: second.refreshToken }),
      401,
      'USERS_ERR_INVALID_REFRESH_TOKEN',
    );
    // Other sessions (other families) of the same user are not affected.
  });

  it('lets exactly one of two concurrent refreshes with the same token win', async () => {
    const { refreshToken } = await login(await register());
    const results = await Promise.all(
      Array.from({ length: 5 }, () => post(app, '/v1/auth/refresh', { refreshToken })),
    );
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 401, 401, 401, 401]);
  });

  it('logs out: the refresh token and its family stop working; unknown tokens are fine', async () => {
    const email = await register();
    const session = await login(email);
    const other = await login(email);
    const res = await post(app, '/v1/auth/logout', { refreshToken: session.refreshToken });
    expect(res.statusCode).toBe(204);
    expectProblem(
      await post(app, '/v1/auth/refresh', { refreshToken: session.refreshToken }),
      401,
      'USERS_ERR_INVALID_REFRESH_TOKEN',
    );
    expect((await post(app, '/v1/auth/refresh', { refreshToken: other.refreshToken })).statusCode).toBe(200);
    expect((await post(app, '/v1/auth/logout', { refreshToken: 'not-a-token' })).statusCode).toBe(204);
  });

  it('refuses an expired refresh token', async () => {
    const { refreshToken } = await login(await register());
    await db.query(
      `update users.refresh_tokens set expires_at = now() - interval '1 second'
        where token_hash = sha256(convert_to($1, 'UTF8'))`,
      [refreshToken],
    );
    expectProblem(
      await post(app, '/v1/auth/refresh', { refreshToken }),
      401,
      'USERS_ERR_INVALID_REFRESH_TOKEN',
    );
  });
});

describe('access tokens that must be refused', () => {
  it('rejects missing, forged, expired, wrong-audience and alg:none tokens with 401', async () => {
    const { accessToken } = await login(await register());
    const { sub } = decodeJwt(accessToken);
    const { privateKey: foreign } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const sign = (key: Parameters<SignJWT['sign']>[0], claims: { exp?: number; aud?: string } = {}) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'EdDSA', kid: 'test-users-key' })
        .setSubject(sub!)
        .setIssuer('taskfleet-users')
        .setAudience(claims.aud ?? 'taskfleet-api')
        .setIssuedAt()
        .setExpirationTime(claims.exp ?? '5m')
        .sign(key);
    const [header, payload] = accessToken.split('.');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
    const tampered = `${header}.${Buffer.from(JSON.stringify({ ...decodeJwt(accessToken), sub: crypto.randomUUID() })).toString('base64url')}.${accessToken.split('.')[2]}`;
    const cases = {
      missing: await app.inject({ method: 'GET', url: '/v1/users/me' }),
      forged: await me(await sign(foreign)),
      tampered: await me(tampered),
      none: await me(none),
      expired: await me(await sign(foreign, { exp: Math.floor(Date.now() / 1000) - 60 })),
    };
    for (const [name, res] of Object.entries(cases)) {
      expect(res.statusCode, name).toBe(401);
      expect(res.json().code, name).toBe('USERS_ERR_UNAUTHORIZED');
    }
    expect(cases.forged.headers['www-authenticate']).toMatch(/^Bearer/);
  });
});

describe('bad input', () => {
  it('answers every malformed request with a problem+json 4xx and changes nothing', async () => {
    const email = uniqueEmail();
    const cases: [string, Awaited<ReturnType<typeof post>>, number, string][] = [
      [
        'short password',
        await post(app, '/v1/auth/register', { email, password: 'short' }),
        400,
        'USERS_ERR_VALIDATION',
      ],
      [
        'long password',
        await post(app, '/v1/auth/register', { email, password: 'x'.repeat(257) }),
        400,
        'USERS_ERR_VALIDATION',
      ],
      [
        'not an email',
        await post(app, '/v1/auth/register', { email: 'nope', password: PASSWORD }),
        400,
        'USERS_ERR_VALIDATION',
      ],
      [
        'unknown field',
        await post(app, '/v1/auth/register', { email, password: PASSWORD, admin: true }),
        400,
        'USERS_ERR_VALIDATION',
      ],
      [
        'wrong type',
        await post(app, '/v1/auth/login', { email, password: 12345678901234 }),
        400,
        'USERS_ERR_VALIDATION',
      ],
      [
        'missing body',
        await app.inject({ method: 'POST', url: '/v1/auth/login' }),
        400,
        'USERS_ERR_VALIDATION',
      ],
      [
        'malformed JSON',
        await app.inject({
          method: 'POST',
          url: '/v1/auth/login',
          payload: '{"email":',
          headers: { 'content-type': 'application/json' },
        }),
        400,
        'USERS_ERR_MALFORMED_JSON',
      ],
      [
        'form body',
        await app.inject({
          method: 'POST',
          url: '/v1/auth/login',
          payload: 'email=a',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        }),
        415,
        'USERS_ERR_UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        'huge body',
        await post(app, '/v1/auth/register', { email, password: 'x'.repeat(20_000) }),
        413,
        'USERS_ERR_BODY_TOO_LARGE',
      ],
      [
        'no route',
        await app.inject({ method: 'GET', url: '/v1/auth/nothing' }),
        404,
        'USERS_ERR_ROUTE_NOT_FOUND',
      ],
    ];
    for (const [name, res, status, code] of cases) {
      expect(res.statusCode, name).toBe(status);
      expect(res.json().code, name).toBe(code);
    }
    const r = await db.query('select count(*)::int as n from users.users where lower(email) = lower($1)', [
      email,
    ]);
    expect(r.rows[0].n).toBe(0);
  });

  it('says 503 with Retry-After, not 500, when password hashing is saturated', async () => {
    const small = await buildUsers({ PASSWORD_HASH_CONCURRENCY: '1', PASSWORD_HASH_QUEUE: '1' });
    try {
      const results = await Promise.all(
        Array.from({ length: 8 }, () =>
          post(small, '/v1/auth/register', { email: uniqueEmail('flood'), password: PASSWORD }),
        ),
      );
      const statuses = results.map((r) => r.statusCode);
      expect(statuses).toContain(201);
      expect(statuses).toContain(503);
      expect(statuses.every((s) => s === 201 || s === 503)).toBe(true);
      const refused = results.find((r) => r.statusCode === 503)!;
      expect(refused.json().code).toBe('USERS_ERR_UNAVAILABLE');
      expect(refused.headers['retry-after']).toBeDefined();
    } finally {
      await small.close();
    }
  });

  it('documents every error code in docs/errors.md with its status', () => {
    expect(documentedErrors('USERS')).toEqual(errorTable(UsersErrors));
  });
});

describe('the task service and the users service', () => {
  it('accepts the access tokens the users service issues, verified with its JWKS', async () => {
    const jwks = (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).body;
    const tasks = await buildTasks({ AUTH_JWKS: jwks });
    try {
      const { accessToken } = await login(await register());
      const created = await tasks.inject({
        method: 'POST',
        url: '/v1/tasks',
        headers: { authorization: `Bearer ${accessToken}` },
        payload: { title: 'from a real login' },
      });
      expect(created.statusCode).toBe(201);
      expect(created.json().id).toBeTruthy();
    } finally {
      await tasks.close();
    }
  });
});
