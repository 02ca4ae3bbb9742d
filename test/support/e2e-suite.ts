// The end-to-end suite, one definition for both runtimes (e2e-target.ts): client → nginx → gateways →
// tasks / users replicas → PgBouncer → Postgres primary + replicas, with Redis and RabbitMQ. The whole
// flow over TLS, isolation between users, one task per Idempotency-Key, the per-user limit across
// gateways, replicas crashing mid-traffic, Redis and RabbitMQ taken away and brought back.
import { httpsJson, newAccount, waitFor } from '@taskfleet/infra';
import { generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import type { E2eTarget, Server } from './e2e-target.ts';

/** The limits the suite's stacks run with (low enough to reach in a test). */
export const E2E_LIMITS = { RATE_LIMIT_USER_MAX: '60', RATE_LIMIT_AUTH_MAX: '40' };
const USER_LIMIT = Number(E2E_LIMITS.RATE_LIMIT_USER_MAX);

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  body: JSON.stringify(body),
  headers: { 'content-type': 'application/json', ...headers },
});

const counter = (metrics: string[], pattern: RegExp) =>
  metrics.map((text) => Number(pattern.exec(text)?.[1] ?? 0));

export function e2eSuite(target: E2eTarget): void {
  const edge = () => target.edge();
  const account = async () => (await newAccount(edge(), 'e2e')).auth;

  // First, before the faults below: every probe passes on a whole stack.
  describe.skipIf(!target.available)(`monitoring (${target.runtime})`, () => {
    it('scrapes every exporter, and the synthetic probes of the user journey pass', async () => {
      const query = async (promql: string) => {
        const res = await fetch(`${target.prometheus()}/api/v1/query?query=${encodeURIComponent(promql)}`);
        const body = (await res.json()) as {
          data: { result: { metric: Record<string, string>; value: [number, string] }[] };
        };
        return body.data.result;
      };
      const jobs = 'postgres|pgbouncer|redis|nginx|node|blackbox|rabbitmq';
      const up = await waitFor(
        'every exporter target up',
        async () => {
          const r = await query(`up{job=~"${jobs}"}`);
          return r.length === 9 && r.every((x) => x.value[1] === '1') ? r : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 1_000 },
      );
      expect(up.map((x) => `${x.metric.job}${x.metric.node ? `/${x.metric.node}` : ''}`).sort()).toEqual([
        'blackbox',
        'nginx',
        'node',
        'pgbouncer',
        'postgres/primary',
        'postgres/replica1',
        'postgres/replica2',
        'rabbitmq',
        'redis',
      ]);
      // The key metric of each: the exporter reaches its server.
      for (const metric of ['pg_up', 'pgbouncer_up', 'redis_up', 'nginx_up'])
        expect(
          (await query(metric)).map((x) => x.value[1]),
          metric,
        ).toEqual(metric === 'pg_up' ? ['1', '1', '1'] : ['1']);
      expect((await query('count(node_cpu_seconds_total)'))[0]?.value[1]).not.toBe('0');
      // Probed every 15 s: the first results come within a scrape interval or two of the start.
      const probes = await waitFor(
        'all three probes to pass',
        async () => {
          const r = await query('probe_success{job="synthetic"}');
          return r.length === 3 && r.every((x) => x.value[1] === '1') ? r : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 1_000 },
      ).catch(async (err: Error) => {
        const last = await query('probe_success{job="synthetic"}');
        throw new Error(`${err.message}: ${JSON.stringify(last.map((x) => [x.metric.probe, x.value[1]]))}`);
      });
      expect(probes.map((x) => x.metric.probe).sort()).toEqual(['authenticated-read', 'edge-health', 'jwks']);
      // The edge's certificate was verified, so its expiry is known (months away for a fresh one).
      const expiry = await query('probe_ssl_earliest_cert_expiry{probe="edge-health"} - time()');
      expect(Number(expiry[0]?.value[1])).toBeGreaterThan(7 * 86_400);
    });
  });

  describe.skipIf(!target.available)(`through the edge (${target.runtime})`, () => {
    it('serves the whole flow over HTTPS: register, login, create, read, list, update, delete', async () => {
      const { base, ca } = target.https();
      const https = (
        method: string,
        path: string,
        opts: { body?: unknown; token?: string; headers?: Record<string, string> } = {},
      ) => httpsJson(`${base}${path}`, { method, ca, ...opts });
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
      const created = await fetch(`${edge()}/v1/tasks`, {
        method: 'POST',
        ...json({ title: "A's secret" }, a),
      });
      expect(created.status).toBe(201);
      const task = (await created.json()) as { id: string; version: number };
      // A guessed neighbour of A's id, as an attacker would try.
      const guessed = `${task.id.slice(0, -1)}${task.id.endsWith('0') ? '1' : '0'}`;
      for (const id of [task.id, guessed]) {
        const attempts = {
          read: await fetch(`${edge()}/v1/tasks/${id}`, { headers: b }),
          update: await fetch(`${edge()}/v1/tasks/${id}`, {
            method: 'PATCH',
            ...json({ title: 'mine now' }, { ...b, 'if-match': `"${task.version}"` }),
          }),
          delete: await fetch(`${edge()}/v1/tasks/${id}`, { method: 'DELETE', headers: b }),
        };
        for (const [what, res] of Object.entries(attempts)) expect(res.status, `${what} ${id}`).toBe(404);
      }
      const list = (await (await fetch(`${edge()}/v1/tasks?limit=100`, { headers: b })).json()) as {
        items: unknown[];
      };
      expect(list.items).toEqual([]);
      const summary = (await (await fetch(`${edge()}/v1/tasks/summary`, { headers: b })).json()) as {
        total: number;
      };
      expect(summary.total).toBe(0);
      // A still has it, unchanged.
      const mine = await fetch(`${edge()}/v1/tasks/${task.id}`, { headers: a });
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
        const res = await fetch(`${edge()}/v1/tasks`, { headers: { authorization: `Bearer ${bad}` } });
        expect(res.status, name).toBe(401);
      }
      expect((await fetch(`${edge()}/v1/tasks`, { headers: a })).status).toBe(200);
    });

    it('creates exactly one task for POSTs retried with one Idempotency-Key', async () => {
      const a = await account();
      const key = crypto.randomUUID();
      const post = () =>
        fetch(`${edge()}/v1/tasks`, {
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
      const list = (await (await fetch(`${edge()}/v1/tasks?limit=100`, { headers: a })).json()) as {
        items: unknown[];
      };
      expect(list.items).toHaveLength(1);
    });

    it('holds the per-user limit across the gateways', async () => {
      const a = await account();
      const fallbacks = async () =>
        counter(await target.gatewayMetrics(), /^gateway_rate_limit_fallbacks_total (\d+)/m).reduce(
          (x, y) => x + y,
          0,
        );
      const fallbacksBefore = await fallbacks();
      const statuses: number[] = [];
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          for (let i = 0; i < 40; i++)
            statuses.push((await fetch(`${edge()}/v1/tasks/summary`, { headers: a })).status);
        }),
      );
      // A decision Redis did not answer in time is taken locally (by design): it may let one more in.
      const allowed = statuses.filter((s) => s === 200).length;
      expect(allowed).toBeGreaterThanOrEqual(USER_LIMIT);
      expect(allowed).toBeLessThanOrEqual(USER_LIMIT + (await fallbacks()) - fallbacksBefore);
      expect(statuses.filter((s) => s === 429)).toHaveLength(160 - allowed);
      // nginx spread them over the gateways, which counted together.
      const limited = counter(
        await target.gatewayMetrics(),
        /^gateway_rate_limited_total\{limit="user"\} (\d+)/m,
      );
      expect(limited.filter((n) => n > 0).length, limited.join()).toBeGreaterThanOrEqual(2);
    });

    it('loses no request when a gateway and a task replica crash (SIGKILL) during a stream of reads', async () => {
      const a = await account();
      const task = (await (
        await fetch(`${edge()}/v1/tasks`, { method: 'POST', ...json({ title: 'still here' }, a) })
      ).json()) as { id: string };
      const failures: string[] = [];
      let done = 0;
      const reader = async () => {
        for (let i = 0; i < 12; i++) {
          const res = await fetch(`${edge()}/v1/tasks/${task.id}`, { headers: a });
          if (res.status !== 200) failures.push(`${res.status} ${await res.text()}`);
          done++;
          await new Promise((r) => setTimeout(r, 25));
        }
      };
      const stream = Promise.all([reader(), reader(), reader(), reader()]);
      while (done < 12) await new Promise((r) => setTimeout(r, 10));
      await target.crash('gateway', 1);
      await target.crash('tasks', 1);
      await stream;
      expect(done).toBe(48);
      expect(failures).toEqual([]);
      // Where a restart policy exists (Docker's), both are back and ready; the API never stopped.
      await target.whole();
      expect((await fetch(`${edge()}/v1/tasks/${task.id}`, { headers: a })).status).toBe(200);
    });

    it.each<Server>(['redis', 'rabbitmq'])(
      `serves every request while %s is ${target.outageKind}, with the same answers after`,
      async (server) => {
        const a = await account();
        const failures: string[] = [];
        const expectStatus = async (what: string, res: Response, status: number) => {
          if (res.status !== status) failures.push(`${what}: ${res.status} ${await res.text()}`);
          return res;
        };
        // Write, read your write, update, read the update: the read-your-writes contract, each round.
        const round = async (label: string) => {
          const created = await expectStatus(
            `${label} create`,
            await fetch(`${edge()}/v1/tasks`, { method: 'POST', ...json({ title: label }, a) }),
            201,
          );
          if (created.status !== 201) return;
          const { id } = (await created.json()) as { id: string };
          await expectStatus(
            `${label} update`,
            await fetch(`${edge()}/v1/tasks/${id}`, {
              method: 'PATCH',
              ...json({ status: 'done' }, { ...a, 'if-match': '"1"' }),
            }),
            200,
          );
          const read = await expectStatus(
            `${label} read`,
            await fetch(`${edge()}/v1/tasks/${id}`, { headers: a }),
            200,
          );
          if (read.status === 200) {
            const body = (await read.json()) as { version: number; status: string };
            if (body.version !== 2 || body.status !== 'done')
              failures.push(`${label} read a stale ${JSON.stringify(body)}`);
          }
        };
        await round('before');
        const bringBack = await target.outage(server);
        try {
          for (let i = 0; i < 3; i++) await round(`during ${i}`);
        } finally {
          await bringBack();
        }
        for (let i = 0; i < 3; i++) await round(`after ${i}`);
        expect(failures).toEqual([]);
        const list = (await (await fetch(`${edge()}/v1/tasks?limit=100`, { headers: a })).json()) as {
          items: { status: string }[];
        };
        expect(list.items.map((t) => t.status)).toEqual(Array(7).fill('done'));
      },
    );

    // Last: it spends this address's auth budget, which every test above needs for its accounts.
    it('throttles password guessing at the auth endpoints', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 45; i++) {
        const res = await fetch(`${edge()}/v1/auth/login`, {
          method: 'POST',
          ...json({ email: 'victim@example.test', password: `guess ${i} of many` }),
        });
        statuses.push(res.status);
      }
      expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
      expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(
        Number(E2E_LIMITS.RATE_LIMIT_AUTH_MAX),
      );
      expect(statuses.at(-1)).toBe(429);
    });
  });
}
