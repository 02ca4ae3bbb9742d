// End to end through the edge, on a native stack of its own with every service as a real process:
// client → nginx → gateway ×2 → tasks ×2 / users ×2 → PgBouncer → Postgres primary + replicas, with
// Redis and RabbitMQ. Processes are killed with SIGKILL mid-traffic; users try each other's tasks.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { httpsJson, newAccount } from '@taskfleet/infra';
import { generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { edgeStack, native } from './support/edge-stack.ts';

const USER_LIMIT = 60;
const stack = edgeStack('e2e', {
  // Low enough to test; the auth limit leaves room for the accounts these tests create from one address.
  serviceEnv: { RATE_LIMIT_USER_MAX: String(USER_LIMIT), RATE_LIMIT_AUTH_MAX: '40' },
});

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  body: JSON.stringify(body),
  headers: { 'content-type': 'application/json', ...headers },
});

const account = async () => (await newAccount(stack.edge, 'e2e')).auth;

describe.skipIf(!native)('through the edge', () => {
  it('serves the whole flow over HTTPS: register, login, create, read, list, update, delete', async () => {
    const ca = readFileSync(join(stack.dir, 'nginx', 'tls', 'tls.crt'));
    const https = (
      method: string,
      path: string,
      opts: { body?: unknown; token?: string; headers?: Record<string, string> } = {},
    ) =>
      httpsJson(`https://localhost:${stack.state.endpoints.nginx.httpsPort}${path}`, { method, ca, ...opts });
    const credentials = {
      email: `tls-${crypto.randomUUID()}@example.test`,
      password: 'correct horse battery staple',
    };
    expect((await https('POST', '/v1/auth/register', { body: credentials })).status).toBe(201);
    const login = await https('POST', '/v1/auth/login', { body: credentials });
    const token = (login.json as { accessToken: string }).accessToken;
    const created = await https('POST', '/v1/tasks', { body: { title: 'over TLS' }, token });
    expect(created.status).toBe(201);
    const id = (created.json as { id: string }).id;
    const read = await https('GET', `/v1/tasks/${id}`, { token });
    expect(read.status).toBe(200);
    const list = await https('GET', '/v1/tasks?limit=10', { token });
    expect((list.json as { items: { id: string }[] }).items.map((t) => t.id)).toEqual([id]);
    const updated = await https('PATCH', `/v1/tasks/${id}`, {
      body: { status: 'done' },
      token,
      headers: { 'if-match': String(read.headers.etag) },
    });
    expect(updated.status).toBe(200);
    expect((updated.json as { status: string }).status).toBe('done');
    expect((await https('DELETE', `/v1/tasks/${id}`, { token })).status).toBe(204);
    expect((await https('GET', `/v1/tasks/${id}`, { token })).status).toBe(404);
  });

  it("never lets user B read, change, delete or list user A's tasks", async () => {
    const a = await account();
    const b = await account();
    const created = await fetch(`${stack.edge}/v1/tasks`, {
      method: 'POST',
      ...json({ title: "A's secret" }, a),
    });
    expect(created.status).toBe(201);
    const task = (await created.json()) as { id: string; version: number };
    // A guessed neighbour of A's id, as an attacker would try.
    const guessed = `${task.id.slice(0, -1)}${task.id.endsWith('0') ? '1' : '0'}`;
    for (const id of [task.id, guessed]) {
      const attempts = {
        read: await fetch(`${stack.edge}/v1/tasks/${id}`, { headers: b }),
        update: await fetch(`${stack.edge}/v1/tasks/${id}`, {
          method: 'PATCH',
          ...json({ title: 'mine now' }, { ...b, 'if-match': `"${task.version}"` }),
        }),
        delete: await fetch(`${stack.edge}/v1/tasks/${id}`, { method: 'DELETE', headers: b }),
      };
      for (const [what, res] of Object.entries(attempts)) expect(res.status, `${what} ${id}`).toBe(404);
    }
    const list = (await (await fetch(`${stack.edge}/v1/tasks?limit=100`, { headers: b })).json()) as {
      items: unknown[];
    };
    expect(list.items).toEqual([]);
    const summary = (await (await fetch(`${stack.edge}/v1/tasks/summary`, { headers: b })).json()) as {
      total: number;
    };
    expect(summary.total).toBe(0);
    // A still has it, unchanged.
    const mine = await fetch(`${stack.edge}/v1/tasks/${task.id}`, { headers: a });
    expect(((await mine.json()) as { title: string }).title).toBe("A's secret");
  });

  it('refuses forged, expired, wrongly signed and alg:none tokens with 401', async () => {
    const a = await account();
    const token = a.authorization.slice('Bearer '.length);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const otherKey = await new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA', kid: 'native-dev' })
      .setSubject(String(claims.sub))
      .setIssuer('taskfleet-users')
      .setAudience('taskfleet-api')
      .setExpirationTime('5m')
      .sign(privateKey);
    const tokens = {
      forged: `${header}.${encode({ ...claims, sub: crypto.randomUUID() })}.${signature}`,
      expired: `${header}.${encode({ ...claims, exp: Math.floor(Date.now() / 1000) - 60 })}.${signature}`,
      'wrongly signed': otherKey,
      'alg none': `${encode({ alg: 'none', typ: 'JWT' })}.${payload}.`,
    };
    for (const [name, bad] of Object.entries(tokens)) {
      const res = await fetch(`${stack.edge}/v1/tasks`, { headers: { authorization: `Bearer ${bad}` } });
      expect(res.status, name).toBe(401);
    }
    expect((await fetch(`${stack.edge}/v1/tasks`, { headers: a })).status).toBe(200);
  });

  it('creates exactly one task for POSTs retried with one Idempotency-Key', async () => {
    const a = await account();
    const key = crypto.randomUUID();
    const post = () =>
      fetch(`${stack.edge}/v1/tasks`, {
        method: 'POST',
        ...json({ title: 'once' }, { ...a, 'idempotency-key': key }),
      });
    const statuses = [...(await Promise.all([post(), post(), post()])), await post(), await post()].map(
      (r) => r.status,
    );
    // A create, its replay, "still running", or a gateway shedding load: never a second task.
    expect(
      statuses.every((s) => s === 201 || s === 409 || s === 503),
      statuses.join(),
    ).toBe(true);
    const list = (await (await fetch(`${stack.edge}/v1/tasks?limit=100`, { headers: a })).json()) as {
      items: unknown[];
    };
    expect(list.items).toHaveLength(1);
  });

  it('holds the per-user limit across both gateways', async () => {
    const a = await account();
    const gateways = [1, 2].map((index) => stack.serviceUrl('gateway', index));
    const fallbacks = async () => {
      let n = 0;
      for (const url of gateways) {
        const text = await (await fetch(`${url}/metrics`)).text();
        n += Number(/^gateway_rate_limit_fallbacks_total (\d+)/m.exec(text)?.[1] ?? 0);
      }
      return n;
    };
    const fallbacksBefore = await fallbacks();
    const statuses: number[] = [];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let i = 0; i < 40; i++)
          statuses.push((await fetch(`${stack.edge}/v1/tasks/summary`, { headers: a })).status);
      }),
    );
    // A decision Redis did not answer in time is taken locally (by design): it may let one more in.
    const allowed = statuses.filter((s) => s === 200).length;
    expect(allowed).toBeGreaterThanOrEqual(USER_LIMIT);
    expect(allowed).toBeLessThanOrEqual(USER_LIMIT + (await fallbacks()) - fallbacksBefore);
    expect(statuses.filter((s) => s === 429)).toHaveLength(160 - allowed);
    // nginx spread them over both gateways, which counted together.
    const served = await Promise.all(
      [1, 2].map(async (index) => {
        const gw = stack.state.endpoints.services?.find((s) => s.service === 'gateway' && s.index === index);
        const text = await (await fetch(`http://${gw!.host}:${gw!.port}/metrics`)).text();
        return /^gateway_rate_limited_total\{limit="user"\} (\d+)/m.exec(text)?.[1];
      }),
    );
    expect(served.every((n) => Number(n) > 0)).toBe(true);
  });

  it('loses no request when a gateway and a task replica are killed (SIGKILL) during a stream of reads', async () => {
    const a = await account();
    const task = (await (
      await fetch(`${stack.edge}/v1/tasks`, { method: 'POST', ...json({ title: 'still here' }, a) })
    ).json()) as { id: string };
    const failures: string[] = [];
    let done = 0;
    const reader = async () => {
      for (let i = 0; i < 12; i++) {
        const res = await fetch(`${stack.edge}/v1/tasks/${task.id}`, { headers: a });
        if (res.status !== 200) failures.push(`${res.status} ${await res.text()}`);
        done++;
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    const stream = Promise.all([reader(), reader(), reader(), reader()]);
    while (done < 12) await new Promise((r) => setTimeout(r, 10));
    process.kill(stack.pidOf('gateway-1'), 'SIGKILL');
    process.kill(stack.pidOf('tasks-1'), 'SIGKILL');
    await stream;
    expect(done).toBe(48);
    expect(failures).toEqual([]);
  });

  // Last: it spends this address's auth budget, which every test above needs for its accounts.
  it('throttles password guessing at the auth endpoints', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 45; i++) {
      const res = await fetch(`${stack.edge}/v1/auth/login`, {
        method: 'POST',
        ...json({ email: 'victim@example.test', password: `guess ${i} of many` }),
      });
      statuses.push(res.status);
    }
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(40); // RATE_LIMIT_AUTH_MAX
    expect(statuses.at(-1)).toBe(429);
  });
});
