// Every route and every error path of the task API, against real Postgres (primary + replicas via
// PgBouncer) and Redis.
import { randomUUID } from 'node:crypto';
import { VerifiedTokens } from '@taskfleet/service';
import type { FastifyInstance } from 'fastify';
import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, newUser, tokenFor } from './helper.ts';

let app: FastifyInstance;
beforeAll(async () => {
  app = await build();
});
afterAll(async () => {
  await app.close();
});

const json = (body: unknown) => ({
  headers: { 'content-type': 'application/json' },
  payload: JSON.stringify(body),
});

function expectProblem(
  res: { statusCode: number; headers: Record<string, unknown>; json: () => unknown },
  status: number,
  code: string,
) {
  expect(res.statusCode, JSON.stringify(res.json())).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.json()).toMatchObject({ status, code });
}

describe('POST /v1/tasks', () => {
  it('creates with defaults: 201, Location, ETag, consistency token', async () => {
    const user = await newUser(app);
    const res = await user.call({ method: 'POST', url: '/v1/tasks', payload: { title: 'Write the report' } });
    expect(res.statusCode).toBe(201);
    const task = res.json();
    expect(task).toMatchObject({
      title: 'Write the report',
      description: '',
      status: 'todo',
      priority: 'medium',
      dueDate: null,
      tags: [],
      version: 1,
    });
    expect(res.headers.location).toBe(`/v1/tasks/${task.id}`);
    expect(res.headers.etag).toBe('"1"');
    expect(res.headers['x-consistency-token']).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(task.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/); // UUIDv7
  });

  it('stores every field', async () => {
    const user = await newUser(app);
    const body = {
      title: 'Ship',
      description: 'all of it',
      status: 'in_progress',
      priority: 'urgent',
      dueDate: '2030-01-02T03:04:05+02:00',
      tags: ['work', 'q1'],
    };
    const res = await user.call({ method: 'POST', url: '/v1/tasks', payload: body });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ ...body, dueDate: '2030-01-02T01:04:05.000Z' });
  });

  it.each([
    ['missing title', {}],
    ['empty title', { title: '' }],
    ['blank title', { title: '   ' }],
    ['title over 200', { title: 'x'.repeat(201) }],
    ['control character in title', { title: 'a\u0007b' }],
    ['description over 10,000', { title: 't', description: 'x'.repeat(10_001) }],
    ['NUL in description', { title: 't', description: 'a\u0000b' }],
    ['unknown status', { title: 't', status: 'blocked' }],
    ['unknown priority', { title: 't', priority: 'critical' }],
    ['date without offset', { title: 't', dueDate: '2030-01-01T00:00:00' }],
    ['not a date', { title: 't', dueDate: 'tomorrow' }],
    ['year out of range', { title: 't', dueDate: '0001-01-01T00:00:00Z' }],
    ['21 tags', { title: 't', tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }],
    ['tag over 32', { title: 't', tags: ['x'.repeat(33)] }],
    ['tag with a space', { title: 't', tags: ['two words'] }],
    ['duplicate tags', { title: 't', tags: ['a', 'a'] }],
    ['unknown field', { title: 't', owner: randomUUID() }],
    ['wrong type', { title: 123 }],
    ['array body', [{ title: 't' }]],
  ])('rejects %s with 400 TASKS_ERR_VALIDATION', async (_, payload) => {
    const user = await newUser(app);
    const res = await user.call({ method: 'POST', url: '/v1/tasks', payload: payload as object });
    expectProblem(res, 400, 'TASKS_ERR_VALIDATION');
    // Nothing half-written: the summary is still empty.
    const summary = await user.call({ method: 'GET', url: '/v1/tasks/summary' });
    expect(summary.json().total).toBe(0);
  });

  it('names the offending fields', async () => {
    const user = await newUser(app);
    const res = await user.call({ method: 'POST', url: '/v1/tasks', payload: { title: '', extra: 1 } });
    expect(res.json().errors).toEqual(
      expect.arrayContaining([
        { path: 'body/extra', message: 'unknown field' },
        expect.objectContaining({ path: 'body/title' }),
      ]),
    );
  });

  it.each([
    ['malformed JSON', '{"title": "x",', 'application/json'],
    ['empty JSON body', '', 'application/json'],
    ['prototype pollution', '{"title":"x","__proto__":{"admin":true}}', 'application/json'],
  ])('rejects %s with 400 TASKS_ERR_MALFORMED_JSON', async (_, payload, type) => {
    const user = await newUser(app);
    const res = await user.call({
      method: 'POST',
      url: '/v1/tasks',
      payload,
      headers: { 'content-type': type },
    });
    expectProblem(res, 400, 'TASKS_ERR_MALFORMED_JSON');
  });

  it('rejects an oversized body with 413', async () => {
    const user = await newUser(app);
    const res = await user.call({
      method: 'POST',
      url: '/v1/tasks',
      ...json({ title: 't', description: 'x'.repeat(200_000) }),
    });
    expectProblem(res, 413, 'TASKS_ERR_BODY_TOO_LARGE');
  });

  it('rejects other media types with 415', async () => {
    const user = await newUser(app);
    const res = await user.call({
      method: 'POST',
      url: '/v1/tasks',
      payload: 'title=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expectProblem(res, 415, 'TASKS_ERR_UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('authentication', () => {
  const url = '/v1/tasks';
  it('requires a bearer token', async () => {
    for (const authorization of [undefined, 'Basic dXNlcjpwYXNz', 'Bearer', 'Bearer not-a-jwt']) {
      const res = await app.inject({ method: 'GET', url, headers: authorization ? { authorization } : {} });
      expectProblem(res, 401, 'TASKS_ERR_UNAUTHORIZED');
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    }
  });

  it('rejects forged, expired, foreign and unsigned tokens', async () => {
    const user = randomUUID();
    const other = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const unsigned = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: user, iss: 'taskfleet-users', aud: 'taskfleet-api', exp: 9_999_999_999 })).toString('base64url')}.`;
    const valid = await tokenFor(user);
    const [h, p] = valid.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), sub: randomUUID() })).toString('base64url')}.${valid.split('.')[2]}`;
    const tokens = {
      'signed by another key': await tokenFor(user, { key: other.privateKey }),
      expired: await tokenFor(user, { expiresIn: Math.floor(Date.now() / 1000) - 60 }),
      'wrong issuer': await tokenFor(user, { issuer: 'someone-else' }),
      'wrong audience': await tokenFor(user, { audience: 'another-api' }),
      'alg none': unsigned,
      'subject swapped': tampered,
      'subject not a user id': await new SignJWT({})
        .setProtectedHeader({ alg: 'EdDSA' })
        .setSubject('admin')
        .setIssuer('taskfleet-users')
        .setAudience('taskfleet-api')
        .setExpirationTime('5m')
        .sign((await generateKeyPair('EdDSA')).privateKey),
    };
    for (const [name, token] of Object.entries(tokens)) {
      const res = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
      expect(res.statusCode, name).toBe(401);
      expect(res.json().code, name).toBe('TASKS_ERR_UNAUTHORIZED');
    }
  });

  it('answers a valid token with 503 and Retry-After while the key set (AUTH_JWKS_URL) cannot be fetched', async () => {
    // Port 1: nothing listens, the fetch fails at once — the users service "down since we started".
    const keyless = await build({ AUTH_JWKS: '', AUTH_JWKS_URL: 'http://127.0.0.1:1/.well-known/jwks.json' });
    try {
      const res = await keyless.inject({
        method: 'GET',
        url,
        headers: { authorization: `Bearer ${await tokenFor(randomUUID())}` },
      });
      expectProblem(res, 503, 'TASKS_ERR_UNAVAILABLE');
      expect(res.headers['retry-after']).toBe('1');
    } finally {
      await keyless.close();
    }
  });
});

describe('remembered tokens (ADR 0008)', () => {
  const url = '/v1/tasks';
  const get = (token: string) =>
    app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });

  it('honours a token it verified before only until the token expires', async () => {
    const user = randomUUID();
    const expiresAt = Math.floor(Date.now() / 1000) + 2;
    const token = await tokenFor(user, { expiresIn: expiresAt });
    expect((await get(token)).statusCode).toBe(200);
    expect((await get(token)).statusCode).toBe(200); // now from the cache
    await new Promise((r) => setTimeout(r, expiresAt * 1000 - Date.now() + 50));
    const late = await get(token);
    expect(late.statusCode).toBe(401);
    expect(late.json().code).toBe('TASKS_ERR_UNAUTHORIZED');
  });

  it('checks a changed copy of a remembered token in full', async () => {
    const token = await tokenFor(randomUUID());
    expect((await get(token)).statusCode).toBe(200);
    const [h, p, sig] = token.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
    const swapped = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: randomUUID() })).toString('base64url')}.${sig}`;
    expect((await get(swapped)).statusCode).toBe(401);
  });

  it('keeps at most `max` tokens and forgets expired ones', () => {
    const cache = new VerifiedTokens({ max: 2 });
    const exp = Math.floor(Date.now() / 1000) + 60;
    cache.remember('a', { sub: 'u1', exp });
    cache.remember('b', { sub: 'u2', exp });
    cache.remember('c', { sub: 'u3', exp });
    expect(cache.size).toBe(2);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('c')?.sub).toBe('u3');
    cache.remember('old', { sub: 'u4', exp: Math.floor(Date.now() / 1000) - 1 });
    expect(cache.get('old')).toBeUndefined();
    cache.clear();
    expect(cache.get('c')).toBeUndefined();
  });
});

describe('GET /v1/tasks/:id', () => {
  it('returns the task with its ETag, and 304 for a matching If-None-Match', async () => {
    const user = await newUser(app);
    const created = (await user.call({ method: 'POST', url: '/v1/tasks', payload: { title: 'a' } })).json();
    const res = await user.call({ method: 'GET', url: `/v1/tasks/${created.id}` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(created);
    expect(res.headers.etag).toBe('"1"');
    expect(res.headers['cache-control']).toBe('private, no-cache');
    const again = await user.call({
      method: 'GET',
      url: `/v1/tasks/${created.id}`,
      headers: { 'if-none-match': '"1"' },
    });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  it('answers 404 alike for a missing task and for another user’s task', async () => {
    const alice = await newUser(app);
    const bob = await newUser(app);
    const task = (
      await alice.call({ method: 'POST', url: '/v1/tasks', payload: { title: 'private' } })
    ).json();
    const theirs = await bob.call({ method: 'GET', url: `/v1/tasks/${task.id}` });
    const missing = await bob.call({ method: 'GET', url: `/v1/tasks/${randomUUID()}` });
    expectProblem(theirs, 404, 'TASKS_ERR_NOT_FOUND');
    expectProblem(missing, 404, 'TASKS_ERR_NOT_FOUND');
    const strip = (b: Record<string, unknown>) => ({ ...b, instance: undefined, requestId: undefined });
    expect(strip(theirs.json())).toEqual(strip(missing.json()));
  });

  it('rejects a malformed id with 400', async () => {
    const user = await newUser(app);
    expectProblem(
      await user.call({ method: 'GET', url: '/v1/tasks/not-a-uuid' }),
      400,
      'TASKS_ERR_VALIDATION',
    );
  });

  it('rejects a malformed consistency token with 400', async () => {
    const user = await newUser(app);
    const res = await user.call({
      method: 'GET',
      url: `/v1/tasks/${randomUUID()}`,
      headers: { 'x-consistency-token': 'yesterday' },
    });
    expectProblem(res, 400, 'TASKS_ERR_BAD_CONSISTENCY_TOKEN');
  });
});

describe('PATCH /v1/tasks/:id', () => {
  async function created(user: Awaited<ReturnType<typeof newUser>>) {
    return (
      await user.call({ method: 'POST', url: '/v1/tasks', payload: { title: 'v1', tags: ['a'] } })
    ).json();
  }

  it('changes the given fields only and bumps the version', async () => {
    const user = await newUser(app);
    const task = await created(user);
    const res = await user.call({
      method: 'PATCH',
      url: `/v1/tasks/${task.id}`,
      headers: { 'if-match': '"1"' },
      payload: { status: 'done', dueDate: null },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ title: 'v1', tags: ['a'], status: 'done', version: 2 });
    expect(res.headers.etag).toBe('"2"');
    expect(res.headers['x-consistency-token']).toBeDefined();
  });

  it('answers 412 for a stale version and leaves the task alone', async () => {
    const user = await newUser(app);
    const task = await created(user);
    await user.call({
      method: 'PATCH',
      url: `/v1/tasks/${task.id}`,
      headers: { 'if-match': '"1"' },
      payload: { title: 'v2' },
    });
    for (const ifMatch of ['"1"', 'W/"2"', '*', 'garbage']) {
      const res = await user.call({
        method: 'PATCH',
        url: `/v1/tasks/${task.id}`,
        headers: { 'if-match': ifMatch },
        payload: { title: 'lost update' },
      });
      expectProblem(res, 412, 'TASKS_ERR_PRECONDITION_FAILED');
    }
    expect((await user.call({ method: 'GET', url: `/v1/tasks/${task.id}` })).json().title).toBe('v2');
  });

  it('requires If-Match (428)', async () => {
    const user = await newUser(app);
    const task = await created(user);
    expectProblem(
      await user.call({ method: 'PATCH', url: `/v1/tasks/${task.id}`, payload: { title: 'x' } }),
      428,
      'TASKS_ERR_PRECONDITION_REQUIRED',
    );
  });

  it('answers 404 for another user’s task, whatever the version', async () => {
    const alice = await newUser(app);
    const bob = await newUser(app);
    const task = await created(alice);
    expectProblem(
      await bob.call({
        method: 'PATCH',
        url: `/v1/tasks/${task.id}`,
        headers: { 'if-match': '"1"' },
        payload: { title: 'mine now' },
      }),
      404,
      'TASKS_ERR_NOT_FOUND',
    );
    expect((await alice.call({ method: 'GET', url: `/v1/tasks/${task.id}` })).json().title).toBe('v1');
  });

  it.each([
    ['an empty patch', {}],
    ['an unknown field', { version: 7 }],
    ['a bad value', { priority: 'asap' }],
  ])('rejects %s with 400', async (_, payload) => {
    const user = await newUser(app);
    const task = await created(user);
    expectProblem(
      await user.call({
        method: 'PATCH',
        url: `/v1/tasks/${task.id}`,
        headers: { 'if-match': '"1"' },
        payload,
      }),
      400,
      'TASKS_ERR_VALIDATION',
    );
  });
});

describe('DELETE /v1/tasks/:id', () => {
  it('deletes (204), then the task is gone (404)', async () => {
    const user = await newUser(app);
    const task = (await user.call({ method: 'POST', url: '/v1/tasks', payload: { title: 'x' } })).json();
    const res = await user.call({ method: 'DELETE', url: `/v1/tasks/${task.id}` });
    expect(res.statusCode).toBe(204);
    expect(res.headers['x-consistency-token']).toBeDefined();
    expectProblem(
      await user.call({ method: 'GET', url: `/v1/tasks/${task.id}` }),
      404,
      'TASKS_ERR_NOT_FOUND',
    );
    expectProblem(
      await user.call({ method: 'DELETE', url: `/v1/tasks/${task.id}` }),
      404,
      'TASKS_ERR_NOT_FOUND',
    );
  });

  it('honours If-Match (412 when stale) and never deletes another user’s task', async () => {
    const alice = await newUser(app);
    const bob = await newUser(app);
    const task = (await alice.call({ method: 'POST', url: '/v1/tasks', payload: { title: 'x' } })).json();
    expectProblem(
      await alice.call({ method: 'DELETE', url: `/v1/tasks/${task.id}`, headers: { 'if-match': '"9"' } }),
      412,
      'TASKS_ERR_PRECONDITION_FAILED',
    );
    expectProblem(
      await bob.call({ method: 'DELETE', url: `/v1/tasks/${task.id}` }),
      404,
      'TASKS_ERR_NOT_FOUND',
    );
    expect(
      (await alice.call({ method: 'DELETE', url: `/v1/tasks/${task.id}`, headers: { 'if-match': '"1"' } }))
        .statusCode,
    ).toBe(204);
  });
});

describe('GET /v1/tasks', () => {
  let user: Awaited<ReturnType<typeof newUser>>;
  const ids: Record<string, string> = {};
  beforeAll(async () => {
    user = await newUser(app);
    const specs = [
      { key: 'a', title: 'Buy milk', priority: 'low', tags: ['home'], dueDate: '2030-03-01T00:00:00Z' },
      {
        key: 'b',
        title: 'Quarterly report',
        description: 'finance numbers',
        status: 'in_progress',
        priority: 'high',
        tags: ['work'],
        dueDate: '2030-01-01T00:00:00Z',
      },
      { key: 'c', title: 'Fix the roof', status: 'done', tags: ['home', 'urgent'] },
      {
        key: 'd',
        title: 'Reports archive',
        priority: 'high',
        tags: ['work'],
        dueDate: '2030-02-01T00:00:00Z',
      },
      { key: 'e', title: 'Call mum', tags: [] },
    ];
    for (const { key, ...payload } of specs)
      ids[key] = (await user.call({ method: 'POST', url: '/v1/tasks', payload })).json().id;
  });
  const list = async (query: string) => user.call({ method: 'GET', url: `/v1/tasks${query}` });
  const keys = (items: { id: string }[]) => items.map((t) => Object.keys(ids).find((k) => ids[k] === t.id));

  it('lists newest first by default, only the caller’s tasks', async () => {
    const other = await newUser(app);
    await other.call({ method: 'POST', url: '/v1/tasks', payload: { title: 'not yours' } });
    const res = await list('');
    expect(res.statusCode).toBe(200);
    expect(keys(res.json().items)).toEqual(['e', 'd', 'c', 'b', 'a']);
    expect(res.json().nextCursor).toBeNull();
  });

  it.each([
    ['?status=done', ['c']],
    ['?priority=high', ['d', 'b']],
    ['?tag=home', ['c', 'a']],
    ['?tag=work&priority=high&status=todo', ['d']],
    ['?dueBefore=2030-02-15T00:00:00Z', ['d', 'b']],
    ['?dueAfter=2030-02-01T00:00:00Z', ['d', 'a']],
    ['?q=report', ['d', 'b']],
    ['?q=finance', ['b']],
    ['?sort=due', ['b', 'd', 'a', 'c', 'e']],
    ['?sort=due&tag=home', ['a', 'c']],
  ])('filters and sorts: %s', async (query, expected) => {
    const res = await list(query);
    expect(res.statusCode, res.body).toBe(200);
    expect(keys(res.json().items)).toEqual(expected);
  });

  it.each(['created', 'due'])(
    'pages through everything with opaque cursors (sort=%s), no repeats, no gaps',
    async (sort) => {
      const all = keys((await list(`?sort=${sort}`)).json().items);
      for (const limit of [1, 2, 3]) {
        const seen: (string | undefined)[] = [];
        let cursor: string | null = null;
        do {
          const res = await list(`?sort=${sort}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
          expect(res.statusCode, res.body).toBe(200);
          expect(res.json().items.length).toBeLessThanOrEqual(limit);
          seen.push(...keys(res.json().items));
          cursor = res.json().nextCursor;
        } while (cursor);
        expect(seen).toEqual(all);
      }
    },
  );

  it.each([
    ['?limit=0', 'TASKS_ERR_VALIDATION'],
    ['?limit=101', 'TASKS_ERR_VALIDATION'],
    ['?limit=ten', 'TASKS_ERR_VALIDATION'],
    ['?status=blocked', 'TASKS_ERR_VALIDATION'],
    ['?sort=title', 'TASKS_ERR_VALIDATION'],
    ['?dueBefore=soon', 'TASKS_ERR_VALIDATION'],
    ['?owner=someone', 'TASKS_ERR_VALIDATION'],
    ['?cursor=!!!', 'TASKS_ERR_BAD_CURSOR'],
    [
      `?cursor=${Buffer.from('{"s":"c","i":"1; drop table tasks"}').toString('base64url')}`,
      'TASKS_ERR_BAD_CURSOR',
    ],
    [
      `?sort=due&cursor=${Buffer.from(`{"s":"c","i":"${randomUUID()}"}`).toString('base64url')}`,
      'TASKS_ERR_BAD_CURSOR',
    ],
  ])('rejects %s with 400', async (query, code) => {
    expectProblem(await list(query), 400, code);
  });
});

describe('GET /v1/tasks/summary', () => {
  it('counts by status × priority, exact after every write', async () => {
    const user = await newUser(app);
    const summary = async () => (await user.call({ method: 'GET', url: '/v1/tasks/summary' })).json();
    expect(await summary()).toMatchObject({
      total: 0,
      counts: { todo: { low: 0, medium: 0, high: 0, urgent: 0 } },
    });
    const a = (
      await user.call({ method: 'POST', url: '/v1/tasks', payload: { title: 'a', priority: 'high' } })
    ).json();
    await user.call({ method: 'POST', url: '/v1/tasks', payload: { title: 'b', priority: 'high' } });
    expect((await summary()).counts.todo.high).toBe(2);
    await user.call({
      method: 'PATCH',
      url: `/v1/tasks/${a.id}`,
      headers: { 'if-match': '"1"' },
      payload: { status: 'done', priority: 'low' },
    });
    let s = await summary();
    expect([s.total, s.counts.todo.high, s.counts.done.low]).toEqual([2, 1, 1]);
    await user.call({
      method: 'PATCH',
      url: `/v1/tasks/${a.id}`,
      headers: { 'if-match': '"2"' },
      payload: { title: 'renamed' },
    });
    await user.call({ method: 'DELETE', url: `/v1/tasks/${a.id}` });
    s = await summary();
    expect([s.total, s.counts.todo.high, s.counts.done.low]).toEqual([1, 1, 0]);
  });
});

describe('operations endpoints', () => {
  it('answers liveness and readiness without a token', async () => {
    expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    const ready = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'ready', checks: { primary: 'ok', redis: 'ok' } });
  });

  it('turns readiness false when the process starts shutting down (the flag drain sets on the root)', async () => {
    const draining = await build();
    try {
      draining.shuttingDown = true;
      const ready = await draining.inject({ method: 'GET', url: '/health/ready' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toMatchObject({ status: 'not ready', checks: { shutdown: 'in progress' } });
      expect((await draining.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    } finally {
      await draining.close();
    }
  });

  it('exports the request-duration histogram by route', async () => {
    const user = await newUser(app);
    await user.call({ method: 'GET', url: `/v1/tasks/${randomUUID()}` });
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toMatch(
      /http_request_duration_seconds_count\{method="GET",route="\/v1\/tasks\/:id",status_code="404"\} \d+/,
    );
    expect(text).toMatch(/tasks_db_reads_total\{target="(replica|primary)"/);
    expect(text).toMatch(/tasks_db_replica_in_rotation\{replica="[a-z0-9_]+"\} [01]/);
  });

  it('serves an OpenAPI document generated from the validating schemas, and its docs page', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual(['/v1/tasks', '/v1/tasks/summary', '/v1/tasks/{id}']);
    const create = doc.paths['/v1/tasks'].post.requestBody.content['application/json'].schema;
    expect(create.properties.title).toMatchObject({ minLength: 1, maxLength: 200 });
    expect(create.additionalProperties).toBe(false);
    const page = await app.inject({ method: 'GET', url: '/docs' }); // the Swagger UI page itself
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('swagger-ui');
  });

  it('answers unknown routes with problem+json 404', async () => {
    expectProblem(await app.inject({ method: 'GET', url: '/v2/nothing' }), 404, 'TASKS_ERR_ROUTE_NOT_FOUND');
  });
});

describe('database limits and failures', () => {
  it('runs every statement under the database statement timeout, through PgBouncer', async () => {
    const r = await app.db.primary.query<{ statement_timeout: string }>('show statement_timeout');
    expect(r.rows[0]!.statement_timeout).toBe('5s');
    const replica = app.db.router.replicas[0]!;
    expect(
      (await replica.pool.query<{ statement_timeout: string }>('show statement_timeout')).rows[0]!
        .statement_timeout,
    ).toBe('5s');
  });

  it('answers 503 problem+json with Retry-After when the database is unreachable', async () => {
    const down = await build({
      DATABASE_PRIMARY_URL: 'postgres://taskfleet@127.0.0.1:1/none',
      DATABASE_REPLICA_URLS: '',
    });
    try {
      const user = await newUser(down);
      for (const req of [
        { method: 'POST' as const, url: '/v1/tasks', payload: { title: 'x' } },
        { method: 'GET' as const, url: `/v1/tasks/${randomUUID()}` },
        { method: 'GET' as const, url: '/v1/tasks' },
      ]) {
        const res = await user.call(req);
        expectProblem(res, 503, 'TASKS_ERR_UNAVAILABLE');
        expect(res.headers['retry-after']).toBe('1');
      }
      expect((await down.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(503);
      expect((await down.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    } finally {
      await down.close();
    }
  });
});
