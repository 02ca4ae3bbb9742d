// The gateway in front of real replicas: two task-service and two users-service instances listening on
// 127.0.0.1 (against the real Postgres, PgBouncer, Redis and RabbitMQ of the test stack), and the
// gateway talking to them over HTTP, as in production.

import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  documentedErrors,
  errorTable,
  freePorts,
  guardStack,
  newAccount,
  redisOnce,
  startExtraRedis,
  startFaultProxy,
  stopStack,
} from '@taskfleet/infra';
import { testStack } from '@taskfleet/infra/vitest';
import { build as buildTasks } from '@taskfleet/tasks/testing';
import { buildUsers, signingKeySet } from '@taskfleet/users/testing';
import type { FastifyInstance } from 'fastify';
import { decodeJwt, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGateway } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { GatewayErrors } from '../src/errors.ts';

const stack = testStack();
let tasks: FastifyInstance[] = [];
let users: FastifyInstance[] = [];
let gateway: FastifyInstance;
let base: string;

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}
async function startGateway(taskUrls: string[], userUrls: string[], env: Record<string, string> = {}) {
  const app = await buildGateway(
    loadConfig({
      TASKS_UPSTREAMS: taskUrls.join(','),
      USERS_UPSTREAMS: userUrls.join(','),
      LOG_LEVEL: 'silent',
      BREAKER_OPEN_MS: '500',
      REDIS_URL: stack.env.REDIS_URL!,
      // Counters of their own per gateway (tests that share them say so), and room for many logins.
      REDIS_KEY_PREFIX: `${stack.prefix}gw-${crypto.randomUUID()}:`,
      RATE_LIMIT_AUTH_MAX: '100000',
      // Every app of this file shares one event loop with the test itself, so its lag says nothing about
      // a gateway's: no shedding, except in the test of shedding (which sets its own threshold).
      SHED_EVENT_LOOP_DELAY_MS: '0',
      ...env,
    }),
  );
  return { app, url: await listen(app) };
}

beforeAll(async () => {
  users = [await buildUsers(), await buildUsers()];
  const userUrls = await Promise.all(users.map(listen));
  const jwks = (await users[0]!.inject({ method: 'GET', url: '/.well-known/jwks.json' })).body;
  tasks = [await buildTasks({ AUTH_JWKS: jwks }), await buildTasks({ AUTH_JWKS: jwks })];
  const taskUrls = await Promise.all(tasks.map(listen));
  ({ app: gateway, url: base } = await startGateway(taskUrls, userUrls));
});
afterAll(async () => {
  await gateway?.close();
  await Promise.all([...tasks, ...users].map((a) => a.close()));
});

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  body: JSON.stringify(body),
  headers: { 'content-type': 'application/json', ...headers },
});

const account = () => newAccount(base, 'gw');

/** Requests a Fastify app has answered, by its own metrics (http_request_duration_seconds_count). */
async function served(app: FastifyInstance, route: string): Promise<number> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  return [...text.matchAll(/^http_request_duration_seconds_count\{([^}]*)\} (\d+)/gm)]
    .filter((m) => m[1]!.includes(`route="${route}"`))
    .reduce((n, m) => n + Number(m[2]), 0);
}

describe('routing through the gateway', () => {
  it('serves the whole flow: register, login, create, read, list, update, delete', async () => {
    const { auth } = await account();
    const created = await fetch(`${base}/v1/tasks`, {
      method: 'POST',
      ...json({ title: 'via gateway' }, auth),
    });
    expect(created.status).toBe(201);
    const task = (await created.json()) as { id: string; version: number };
    const read = await fetch(`${base}/v1/tasks/${task.id}`, { headers: auth });
    expect(read.status).toBe(200);
    const list = (await (await fetch(`${base}/v1/tasks?limit=5`, { headers: auth })).json()) as {
      items: { id: string }[];
    };
    expect(list.items.map((t) => t.id)).toContain(task.id);
    const updated = await fetch(`${base}/v1/tasks/${task.id}`, {
      method: 'PATCH',
      ...json({ status: 'done' }, { ...auth, 'if-match': read.headers.get('etag')! }),
    });
    expect(updated.status).toBe(200);
    expect((await fetch(`${base}/v1/tasks/${task.id}`, { method: 'DELETE', headers: auth })).status).toBe(
      204,
    );
    expect((await fetch(`${base}/v1/tasks/${task.id}`, { headers: auth })).status).toBe(404);
    const me = await fetch(`${base}/v1/users/me`, { headers: auth });
    expect(me.status).toBe(200);
  });

  it('passes the request id through to the service and back', async () => {
    const { auth } = await account();
    const id = `test-${crypto.randomUUID()}`;
    const res = await fetch(`${base}/v1/tasks/${crypto.randomUUID()}`, {
      headers: { ...auth, 'x-request-id': id },
    });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { requestId: string }).requestId).toBe(id); // set by the task service
  });

  it('balances requests over both task replicas', async () => {
    const { auth } = await account();
    const before = await Promise.all(tasks.map((t) => served(t, '/v1/tasks/summary')));
    await Promise.all(
      Array.from({ length: 40 }, () =>
        fetch(`${base}/v1/tasks/summary`, { headers: auth }).then((r) => r.text()),
      ),
    );
    const after = await Promise.all(tasks.map((t) => served(t, '/v1/tasks/summary')));
    const share = after.map((n, i) => n - before[i]!);
    expect(share[0]! + share[1]!).toBe(40);
    expect(Math.min(...share)).toBeGreaterThan(5);
  });

  it('leaves bodies to the services, but bounds their size and knows its routes', async () => {
    const { auth } = await account();
    const malformed = await fetch(`${base}/v1/tasks`, {
      method: 'POST',
      body: '{"title":',
      headers: { ...auth, 'content-type': 'application/json' },
    });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { code: string }).code).toBe('TASKS_ERR_MALFORMED_JSON');
    const huge = await fetch(`${base}/v1/tasks`, {
      method: 'POST',
      ...json({ title: 'x'.repeat(200_000) }, auth),
    });
    expect(huge.status).toBe(413);
    expect(((await huge.json()) as { code: string }).code).toBe('GATEWAY_ERR_BODY_TOO_LARGE');
    const nowhere = await fetch(`${base}/v2/anything`);
    expect(nowhere.status).toBe(404);
    expect(nowhere.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await nowhere.json()) as { code: string }).code).toBe('GATEWAY_ERR_ROUTE_NOT_FOUND');
  });
});

describe('authentication at the gateway', () => {
  it('refuses missing, forged, tampered, expired and alg:none tokens before any task replica sees them', async () => {
    const { accessToken } = await account();
    const { sub } = decodeJwt(accessToken);
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA', kid: 'test-users-key' })
      .setSubject(sub!)
      .setIssuer('taskfleet-users')
      .setAudience('taskfleet-api')
      .setExpirationTime('5m')
      .sign(privateKey);
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA' })
      .setSubject(sub!)
      .setIssuer('taskfleet-users')
      .setAudience('taskfleet-api')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(privateKey);
    const [, payload, signature] = accessToken.split('.');
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${payload}.`;
    const tampered = `${accessToken.split('.')[0]}.${Buffer.from(JSON.stringify({ ...decodeJwt(accessToken), sub: crypto.randomUUID() })).toString('base64url')}.${signature}`;
    const before = await Promise.all(tasks.map((t) => served(t, '/v1/tasks')));
    for (const [name, header] of Object.entries({
      missing: undefined,
      forged: `Bearer ${forged}`,
      tampered: `Bearer ${tampered}`,
      expired: `Bearer ${expired}`,
      none: `Bearer ${none}`,
      basic: 'Basic dXNlcjpwYXNz',
    })) {
      const res = await fetch(`${base}/v1/tasks`, { headers: header ? { authorization: header } : {} });
      expect(res.status, name).toBe(401);
      expect(((await res.json()) as { code: string }).code, name).toBe('GATEWAY_ERR_UNAUTHORIZED');
    }
    const after = await Promise.all(tasks.map((t) => served(t, '/v1/tasks')));
    expect(after).toEqual(before);
  });

  it('answers a valid token with 503 and Retry-After, never 401, while the users service has not given its keys', async () => {
    const { auth } = await account();
    // A gateway started while no users replica answers: it has never had a key set.
    const [closedPort] = await freePorts(1);
    const taskUrl = `http://127.0.0.1:${(tasks[0]!.server.address() as AddressInfo).port}`;
    const { app, url } = await startGateway([taskUrl], [`http://127.0.0.1:${closedPort}`]);
    try {
      const res = await fetch(`${url}/v1/tasks`, { headers: auth });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(((await res.json()) as { code: string }).code).toBe('GATEWAY_ERR_UNAVAILABLE');
      // A missing token is still the caller's fault, keys or not.
      expect((await fetch(`${url}/v1/tasks`)).status).toBe(401);
    } finally {
      await app.close();
    }
  });
});

describe('remembered tokens (ADR 0008)', () => {
  it('stops honouring a remembered token once the users service withdraws its key', async () => {
    const jwksOf = async (app: FastifyInstance) =>
      (
        JSON.parse((await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).body) as {
          keys: object[];
        }
      ).keys;
    const before = await buildUsers({ AUTH_SIGNING_KEYS: await signingKeySet('rotation-old') });
    const port = Number(new URL(await listen(before)).port);
    const after = await buildUsers({ AUTH_SIGNING_KEYS: await signingKeySet('rotation-new') });
    // The task replica accepts both keys: what is tested is the gateway's own decision.
    const bothKeys = JSON.stringify({ keys: [...(await jwksOf(before)), ...(await jwksOf(after))] });
    const replica = await buildTasks({ AUTH_JWKS: bothKeys });
    const { app, url } = await startGateway([await listen(replica)], [`http://127.0.0.1:${port}`], {
      JWKS_CACHE_SECONDS: '1',
    });
    try {
      const { auth } = await newAccount(url, 'rotation');
      expect((await fetch(`${url}/v1/tasks`, { headers: auth })).status).toBe(200);
      expect((await fetch(`${url}/v1/tasks`, { headers: auth })).status).toBe(200); // remembered now
      // The users service comes back on the same address signing with a new key only.
      await before.close();
      await after.listen({ host: '127.0.0.1', port });
      await new Promise((r) => setTimeout(r, 1_200)); // past JWKS_CACHE_SECONDS: the gateway refetches
      const refused = await fetch(`${url}/v1/tasks`, { headers: auth });
      expect(refused.status).toBe(401);
      expect(((await refused.json()) as { code: string }).code).toBe('GATEWAY_ERR_UNAUTHORIZED');
    } finally {
      await app.close();
      await Promise.all([replica.close(), after.close(), before.close()]);
    }
  });
});

describe('replicas that fail', () => {
  it('retries idempotent requests on another replica when one dies mid-stream; POSTs that never left too', async () => {
    // A gateway of its own over a third task replica that will die, and one that lives.
    const jwks = (await users[0]!.inject({ method: 'GET', url: '/.well-known/jwks.json' })).body;
    const doomed = await buildTasks({ AUTH_JWKS: jwks });
    const doomedUrl = await listen(doomed);
    const taskUrl = `http://127.0.0.1:${(tasks[0]!.server.address() as AddressInfo).port}`;
    const userUrls = users.map((u) => `http://127.0.0.1:${(u.server.address() as AddressInfo).port}`);
    const { app, url } = await startGateway([doomedUrl, taskUrl], userUrls);
    try {
      const { auth } = await account();
      const task = (await (
        await fetch(`${url}/v1/tasks`, { method: 'POST', ...json({ title: 'survivor' }, auth) })
      ).json()) as { id: string };
      const statuses: number[] = [];
      const stream = (async () => {
        for (let i = 0; i < 150; i++)
          statuses.push((await fetch(`${url}/v1/tasks/${task.id}`, { headers: auth })).status);
      })();
      await new Promise((r) => setTimeout(r, 100));
      await doomed.close();
      await stream;
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
      // A POST to the dead replica can't connect: it never left, so it goes to the live one.
      for (let i = 0; i < 5; i++)
        expect(
          (await fetch(`${url}/v1/tasks`, { method: 'POST', ...json({ title: `after ${i}` }, auth) })).status,
        ).toBe(201);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(/^gateway_upstream_requests_total\{service="tasks",outcome="retried"\} [1-9]/m);
    } finally {
      await app.close();
      await doomed.close();
    }
  });

  it('answers 503 with Retry-After when no replica of a service is left', async () => {
    const userUrls = users.map((u) => `http://127.0.0.1:${(u.server.address() as AddressInfo).port}`);
    // Nothing listens on port 1. The breaker stays open for the rest of the test (no timing involved).
    const { app, url } = await startGateway(['http://127.0.0.1:1'], userUrls, {
      BREAKER_FAILURES: '1',
      BREAKER_OPEN_MS: '600000',
    });
    try {
      const breakers = async () =>
        [
          ...(await (await fetch(`${url}/metrics`)).text()).matchAll(
            /^gateway_circuit_breaker_state\{service="(\w+)",upstream="([^"]+)"\} (\d)$/gm,
          ),
        ].map(([, service, upstream, state]) => `${service} ${upstream} ${state}`);
      expect(await breakers()).toContain('tasks 127.0.0.1:1 0'); // closed until it fails
      const { accessToken } = await newAccount(url, 'gw');
      const res = await fetch(`${url}/v1/tasks`, { headers: { authorization: `Bearer ${accessToken}` } });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBeTruthy();
      expect(((await res.json()) as { code: string }).code).toBe('GATEWAY_ERR_UPSTREAM_UNAVAILABLE');
      expect((await fetch(`${url}/health/ready`)).status).toBe(503);
      // Open (2) for the dead replica; the users replicas, which answered, closed (0).
      expect((await breakers()).sort()).toEqual(
        ['tasks 127.0.0.1:1 2', ...userUrls.map((u) => `users ${u.replace('http://', '')} 0`)].sort(),
      );
    } finally {
      await app.close();
    }
  });
});

/** A counter's value (summed over its labels) on a gateway's /metrics. */
async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'gm'))].reduce(
    (n, m) => n + Number(m[1]),
    0,
  );
}

describe('rate limits', () => {
  const urlOf = (app: FastifyInstance) => `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  it('hold per user across two gateway replicas sharing Redis', async () => {
    const shared = {
      REDIS_KEY_PREFIX: `${stack.prefix}gw-shared-${crypto.randomUUID()}:`,
      RATE_LIMIT_USER_MAX: '20',
    };
    const one = await startGateway(tasks.map(urlOf), users.map(urlOf), shared);
    const two = await startGateway(tasks.map(urlOf), users.map(urlOf), shared);
    try {
      const { auth } = await account();
      const responses = [];
      for (let i = 0; i < 60; i++)
        responses.push(await fetch(`${(i % 2 ? one : two).url}/v1/tasks/summary`, { headers: auth }));
      const statuses = responses.map((r) => r.status);
      // A decision Redis did not answer in time is taken locally (by design): it may let one more in.
      const fallbacks = (
        await Promise.all([one, two].map((g) => metric(g.url, 'gateway_rate_limit_fallbacks_total')))
      ).reduce((a, b) => a + b);
      const allowed = statuses.filter((s) => s === 200).length;
      expect(allowed).toBeGreaterThanOrEqual(20);
      expect(allowed).toBeLessThanOrEqual(20 + fallbacks);
      expect(statuses.filter((s) => s === 429)).toHaveLength(60 - allowed);
      const refused = responses.find((r) => r.status === 429)!;
      expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(refused.headers.get('ratelimit-limit')).toBe('20');
      expect(refused.headers.get('ratelimit-remaining')).toBe('0');
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(((await refused.json()) as { code: string }).code).toBe('GATEWAY_ERR_RATE_LIMITED');
      // Every request's decision counted once, under the per-user rule, on the gateway that took it.
      const decisions = async (decision: string) =>
        (
          await Promise.all(
            [one, two].map((g) =>
              metric(g.url, `gateway_rate_limit_decisions_total\\{rule="user",decision="${decision}"\\}`),
            ),
          )
        ).reduce((a, b) => a + b);
      expect(await decisions('allowed')).toBe(allowed);
      expect(await decisions('limited')).toBe(60 - allowed);
      // Somebody else's budget is untouched.
      const other = await account();
      expect((await fetch(`${one.url}/v1/tasks/summary`, { headers: other.auth })).status).toBe(200);
    } finally {
      await one.app.close();
      await two.app.close();
    }
  });

  it('throttles password guessing on the auth endpoints per client address', async () => {
    const strict = await startGateway(tasks.map(urlOf), users.map(urlOf), { RATE_LIMIT_AUTH_MAX: '5' });
    try {
      const statuses = [];
      for (let i = 0; i < 9; i++) {
        const res = await fetch(`${strict.url}/v1/auth/login`, {
          method: 'POST',
          ...json({ email: 'victim@example.test', password: `guess number ${i}` }),
        });
        statuses.push(res.status);
      }
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429, 429]);
      // The auth routes' own rule; a request without a token elsewhere falls under the per-address one.
      expect((await fetch(`${strict.url}/v1/users/me`)).status).toBe(401);
      const text = await (await fetch(`${strict.url}/metrics`)).text();
      const counted = [...text.matchAll(/^gateway_rate_limit_decisions_total\{([^}]*)\} (\d+)$/gm)]
        .map(([, labels, n]) => `${labels} ${n}`)
        .sort();
      expect(counted).toEqual([
        'rule="auth",decision="allowed" 5',
        'rule="auth",decision="limited" 4',
        'rule="ip",decision="allowed" 1',
        'rule="ip",decision="limited" 0',
        'rule="user",decision="allowed" 0',
        'rule="user",decision="limited" 0',
      ]);
    } finally {
      await strict.app.close();
    }
  });

  it('falls back to a local limit, not to an outage, when Redis is unreachable', async () => {
    const local = await startGateway(tasks.map(urlOf), users.map(urlOf), {
      REDIS_URL: 'redis://127.0.0.1:1', // nothing listens there
      RATE_LIMIT_USER_MAX: '10',
    });
    try {
      const { accessToken } = await account();
      const statuses = [];
      for (let i = 0; i < 15; i++)
        statuses.push(
          (
            await fetch(`${local.url}/v1/tasks/summary`, {
              headers: { authorization: `Bearer ${accessToken}` },
            })
          ).status,
        );
      expect(statuses.slice(0, 10)).toEqual(Array(10).fill(200));
      expect(statuses.slice(10)).toEqual(Array(5).fill(429));
      const metrics = await (await fetch(`${local.url}/metrics`)).text();
      expect(metrics).toMatch(/^gateway_rate_limit_fallbacks_total [1-9]/m);
    } finally {
      await local.app.close();
    }
  });
});

describe('Idempotency-Key on POST', () => {
  const create = (auth: Record<string, string>, key: string, title = 'once') =>
    fetch(`${base}/v1/tasks`, { method: 'POST', ...json({ title }, { ...auth, 'idempotency-key': key }) });
  const count = async (auth: Record<string, string>) =>
    (
      (await (await fetch(`${base}/v1/tasks/summary`, { headers: auth })).json()) as {
        total?: number;
        counts?: unknown;
      }
    ).total;

  it('runs a POST once and replays its result for retries with the same key', async () => {
    const { auth } = await account();
    const key = crypto.randomUUID();
    const first = await create(auth, key);
    expect(first.status).toBe(201);
    const task = (await first.json()) as { id: string };
    for (let i = 0; i < 3; i++) {
      const again = await create(auth, key);
      expect(again.status).toBe(201);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.headers.get('location')).toBe(first.headers.get('location'));
      expect(((await again.json()) as { id: string }).id).toBe(task.id);
    }
    const list = (await (await fetch(`${base}/v1/tasks?limit=100`, { headers: auth })).json()) as {
      items: unknown[];
    };
    expect(list.items).toHaveLength(1);
    expect(await count(auth)).toBe(1);
  });

  it('creates exactly one task when the same key races on both gateways at once', async () => {
    const { auth } = await account();
    const shared = { REDIS_KEY_PREFIX: `${stack.prefix}gw-idem-${crypto.randomUUID()}:` };
    const one = await startGateway(tasks.map(urlOf), users.map(urlOf), shared);
    const two = await startGateway(tasks.map(urlOf), users.map(urlOf), shared);
    try {
      const key = crypto.randomUUID();
      const responses = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          fetch(`${(i % 2 ? one : two).url}/v1/tasks`, {
            method: 'POST',
            ...json({ title: 'race' }, { ...auth, 'idempotency-key': key }),
          }),
        ),
      );
      // Correct outcomes: the create (201), its replay (201), "still running" (409), or a gateway too busy
      // to take it (503). Never a second task, never another error.
      const statuses = responses.map((r) => r.status);
      expect(
        statuses.every((s) => s === 201 || s === 409 || s === 503),
        statuses.join(),
      ).toBe(true);
      expect(statuses).toContain(201);
      const busy = responses.find((r) => r.status === 409);
      if (busy) expect(busy.headers.get('retry-after')).toBe('1');
      const list = (await (await fetch(`${base}/v1/tasks?limit=100`, { headers: auth })).json()) as {
        items: unknown[];
      };
      expect(list.items).toHaveLength(1);
    } finally {
      await one.app.close();
      await two.app.close();
    }
  });

  const urlOf = (app: FastifyInstance) => `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const titles = async (auth: Record<string, string>) =>
    (
      (await (await fetch(`${base}/v1/tasks?limit=100`, { headers: auth })).json()) as {
        items: { title: string }[];
      }
    ).items.map((t) => t.title);

  it('still runs a create with a key once when Redis is unreachable: the task service enforces it', async () => {
    const [closedPort] = await freePorts(1);
    const lonely = await startGateway(tasks.map(urlOf), users.map(urlOf), {
      REDIS_URL: `redis://127.0.0.1:${closedPort}`,
    });
    try {
      const { auth } = await account();
      const key = crypto.randomUUID();
      const post = () =>
        fetch(`${lonely.url}/v1/tasks`, {
          method: 'POST',
          ...json({ title: 'no redis' }, { ...auth, 'idempotency-key': key }),
        });
      const first = await post();
      expect(first.status).toBe(201);
      const again = await post();
      expect(again.status).toBe(201);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(await again.json()).toEqual(await first.json());
      expect(await titles(auth)).toEqual(['no redis']);
      // A service that keeps no record of keys (users) can't give that guarantee: refused, not run.
      const login = await fetch(`${lonely.url}/v1/auth/login`, {
        method: 'POST',
        ...json({ email: 'nobody@example.test', password: 'x'.repeat(12) }, { 'idempotency-key': key }),
      });
      expect(login.status).toBe(503);
      expect(((await login.json()) as { code: string }).code).toBe('GATEWAY_ERR_IDEMPOTENCY_UNAVAILABLE');
      const metrics = await (await fetch(`${lonely.url}/metrics`)).text();
      expect(metrics).toMatch(/^gateway_idempotency_decisions_total\{decision="store_down_ran"\} 2$/m);
      expect(metrics).toMatch(/^gateway_idempotency_decisions_total\{decision="store_down_refused"\} 1$/m);
    } finally {
      await lonely.app.close();
    }
  });

  it('releases a claim that a frozen Redis runs late, so the key answers again as soon as Redis does', async () => {
    const dir = join(stack.state.dir, `redis-frozen-w${stack.worker}`);
    mkdirSync(dir, { recursive: true });
    guardStack(dir, process.pid, join(dir, 'watchdog.log'));
    const redis = await startExtraRedis({ parent: stack.state, dir });
    const frozen = await startGateway(tasks.map(urlOf), users.map(urlOf), {
      REDIS_URL: `redis://${redis.host}:${redis.port}`,
      REDIS_KEY_PREFIX: 'frozen:',
      IDEMPOTENCY_REDIS_TIMEOUT_MS: '200',
    });
    let stopped = false;
    try {
      const { auth } = await account();
      const keys = Array.from({ length: 5 }, () => crypto.randomUUID());
      const post = (key: string) =>
        fetch(`${frozen.url}/v1/tasks`, {
          method: 'POST',
          ...json({ title: key }, { ...auth, 'idempotency-key': key }),
        });
      process.kill(redis.pid, 'SIGSTOP');
      stopped = true;
      // Each claim times out with Redis frozen; the create runs anyway (the task service records the key).
      const during = await Promise.all(keys.map(post));
      expect(during.map((r) => r.status)).toEqual(keys.map(() => 201));
      // A route whose service keeps no record of keys is refused instead — and its late claim released.
      const loginKey = crypto.randomUUID();
      const login = () =>
        fetch(`${frozen.url}/v1/auth/login`, {
          method: 'POST',
          ...json(
            { email: `${loginKey}@example.test`, password: 'x'.repeat(12) },
            { 'idempotency-key': loginKey },
          ),
        });
      expect((await login()).status).toBe(503);
      process.kill(redis.pid, 'SIGCONT');
      stopped = false;
      const thawed = Date.now();
      // Redis now runs each late claim and right behind it its release, then the answer.
      const states = async () =>
        redisOnce(redis, async (r) => {
          const names = await r.keys('frozen:idem:*');
          const values = names.length ? await r.mget(...names) : [];
          return values.map((v) => (JSON.parse(v!) as { state: string }).state);
        });
      // Sent on the same connection, behind the late claim: without its release this would be a 409.
      expect((await login()).status).toBe(401);
      while ((await states()).join() !== keys.map(() => 'done').join()) {
        expect(Date.now() - thawed, `records after thawing: ${(await states()).join()}`).toBeLessThan(2_000);
        await new Promise((r) => setTimeout(r, 20));
      }
      for (const key of keys) {
        const retry = await post(key);
        expect(retry.status).toBe(201);
        expect(retry.headers.get('idempotent-replayed')).toBe('true');
      }
      expect((await titles(auth)).sort()).toEqual([...keys].sort());
    } finally {
      if (stopped) process.kill(redis.pid, 'SIGCONT');
      await frozen.app.close();
      await stopStack(dir);
    }
  });

  it('renews a claim while its request runs: retries get 409 long past the lease, then run once it failed', async () => {
    // The only task replica sits behind a link the test cuts: the first create hangs until its timeout.
    const link = await startFaultProxy({
      host: '127.0.0.1',
      port: (tasks[0]!.server.address() as AddressInfo).port,
    });
    const slow = await startGateway([`http://${link.host}:${link.port}`], users.map(urlOf), {
      IDEMPOTENCY_LEASE_MS: '600',
      UPSTREAM_TIMEOUT_MS: '2500',
    });
    try {
      const { auth } = await account();
      const key = crypto.randomUUID();
      const post = () =>
        fetch(`${slow.url}/v1/tasks`, {
          method: 'POST',
          ...json({ title: 'slow' }, { ...auth, 'idempotency-key': key }),
        });
      link.partition();
      const started = performance.now();
      const first = post();
      // Retries for three leases' time, each told whether the first still runs.
      const retries: { at: number; status: number }[] = [];
      while (performance.now() - started < 1_800) {
        await new Promise((r) => setTimeout(r, 200));
        const status = (await post()).status;
        retries.push({ at: performance.now() - started, status });
      }
      // 409 while it runs; a 504 is also correct had a stalled machine let a lease lapse (that retry ran
      // and hung like the first). A 409 after two leases proves the claim was renewed.
      const seen = retries.map((r) => `${Math.round(r.at)}ms:${r.status}`).join(' ');
      expect(
        retries.every((r) => r.status === 409 || r.status === 504),
        seen,
      ).toBe(true);
      expect(
        retries.some((r) => r.status === 409 && r.at > 1_200),
        seen,
      ).toBe(true);
      expect((await first).status).toBe(504); // no answer from the replica: released, not kept
      link.heal();
      const after = await post();
      expect(after.status).toBe(201);
      expect(await titles(auth)).toEqual(['slow']);
    } finally {
      await slow.app.close();
      await link.close();
    }
  });

  it('refuses a reused key with a different body (422), scopes keys per user, and checks their form', async () => {
    const a = await account();
    const b = await account();
    const key = crypto.randomUUID();
    expect((await create(a.auth, key, 'first')).status).toBe(201);
    const reused = await create(a.auth, key, 'something else');
    expect(reused.status).toBe(422);
    expect(((await reused.json()) as { code: string }).code).toBe('GATEWAY_ERR_IDEMPOTENCY_KEY_REUSED');
    // Another user with the same key gets their own task, never a's.
    const theirs = await create(b.auth, key, 'first');
    expect(theirs.status).toBe(201);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
    const bad = await create(a.auth, 'spaces are not allowed');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { code: string }).code).toBe('GATEWAY_ERR_VALIDATION');
  });
});

describe('load shedding', () => {
  it('answers 503 + Retry-After at once while its event loop lags, and serves again after', async () => {
    const urlOf = (app: FastifyInstance) => `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const { app, url } = await startGateway(tasks.map(urlOf), users.map(urlOf), {
      SHED_EVENT_LOOP_DELAY_MS: '150',
      SHED_SAMPLE_MS: '20',
    });
    try {
      const { auth } = await account();
      // Serving normally first (on a busy CI machine the loop may lag for a moment: wait for it).
      const serving = async () => {
        for (let i = 0; i < 100; i++) {
          if ((await fetch(`${url}/v1/tasks/summary`, { headers: auth })).status === 200) return 200;
          await new Promise((r) => setTimeout(r, 50));
        }
        return 503;
      };
      expect(await serving()).toBe(200);
      // Saturate this process (the gateway runs in it) for a second, as a CPU-bound burst would: it
      // computes in 300 ms slices and only briefly gets to serve the requests meanwhile.
      const answers: Response[] = [];
      const requests = Array.from({ length: 10 }, async (_, i) => {
        await new Promise((r) => setTimeout(r, i * 80));
        answers.push(await fetch(`${url}/v1/tasks/summary`, { headers: auth }));
      });
      const end = Date.now() + 1_000;
      while (Date.now() < end) {
        const slice = Date.now() + 300;
        while (Date.now() < slice) {
          /* busy */
        }
        await new Promise((r) => setImmediate(r));
      }
      await Promise.all(requests);
      const shed = answers.find((r) => r.status === 503);
      expect(shed, `statuses: ${answers.map((r) => r.status)}`).toBeDefined();
      expect(answers.every((r) => r.status === 200 || r.status === 503)).toBe(true);
      expect(shed!.headers.get('retry-after')).toBeTruthy();
      expect(((await shed!.json()) as { code: string }).code).toBe('GATEWAY_ERR_OVERLOADED');
      // Once the loop is responsive again, so is the gateway.
      expect(await serving()).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe('gateway errors', () => {
  it('are documented in docs/errors.md with their status', () => {
    expect(documentedErrors('GATEWAY')).toEqual(errorTable(GatewayErrors));
  });
});
