// Idempotency-Key at the task service (ADR 0009): the database records the key with the task, so a
// create runs at most once per owner and key whatever sends it — a retry, a second replica, a gateway
// that woke up late — against the real primary, replicas and PgBouncer.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, newUser, tokenFor } from './helper.ts';

let app: FastifyInstance;
let other: FastifyInstance; // a second replica of the service
beforeAll(async () => {
  [app, other] = await Promise.all([build(), build()]);
});
afterAll(async () => {
  await Promise.all([app?.close(), other?.close()]);
});

const rows = async (sql: string, params: unknown[]) =>
  Number((await app.db.primary.query<{ n: string }>(sql, params)).rows[0]!.n);
const tasksOf = (owner: string) => rows('select count(*) as n from tasks where owner_id = $1', [owner]);
const eventsOf = (owner: string) => rows('select count(*) as n from outbox where owner_id = $1', [owner]);

function create(
  user: { call: (o: InjectOptions) => Promise<import('fastify').LightMyRequestResponse> },
  key: string,
  body: unknown,
) {
  return user.call({
    method: 'POST',
    url: '/v1/tasks',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    payload: JSON.stringify(body),
  });
}

describe('POST /v1/tasks with an Idempotency-Key', () => {
  it('creates once and answers every retry with the first answer, marked as replayed', async () => {
    const user = await newUser(app);
    const key = randomUUID();
    const body = { title: 'once', tags: ['a'], dueDate: '2030-01-02T03:04:05.678Z' };
    const first = await create(user, key, body);
    expect(first.statusCode).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    for (let i = 0; i < 3; i++) {
      const again = await create(user, key, body);
      expect(again.statusCode).toBe(201);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.json()).toEqual(first.json());
      expect(again.headers.location).toBe(first.headers.location);
      expect(again.headers.etag).toBe(first.headers.etag);
      expect(again.headers['cache-control']).toBe('no-store');
      // A token the client can read its task back with (a position at or after the create).
      expect(again.headers['x-consistency-token']).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    }
    expect(await tasksOf(user.id)).toBe(1);
    expect(await eventsOf(user.id)).toBe(1); // a replay publishes nothing
  });

  it('replays the first answer even after the task has changed, and never resurrects a deleted one', async () => {
    const user = await newUser(app);
    const key = randomUUID();
    const first = await create(user, key, { title: 'v1' });
    const task = first.json() as { id: string };
    const patched = await user.call({
      method: 'PATCH',
      url: `/v1/tasks/${task.id}`,
      headers: { 'content-type': 'application/json', 'if-match': '"1"' },
      payload: JSON.stringify({ title: 'v2' }),
    });
    expect(patched.statusCode).toBe(200);
    const replay = await create(user, key, { title: 'v1' });
    expect(replay.statusCode).toBe(201);
    expect(replay.json()).toEqual(first.json());
    expect((await user.call({ method: 'DELETE', url: `/v1/tasks/${task.id}` })).statusCode).toBe(204);
    expect((await create(user, key, { title: 'v1' })).statusCode).toBe(201);
    expect(await tasksOf(user.id)).toBe(0);
  });

  it('refuses the same key with a different request (422), with nothing written', async () => {
    const user = await newUser(app);
    const key = randomUUID();
    expect((await create(user, key, { title: 'first' })).statusCode).toBe(201);
    // Different body, and the same body formatted differently: the fingerprint covers the bytes sent
    // (as the gateway's does), so both count as another request.
    for (const payload of [JSON.stringify({ title: 'second' }), '{ "title": "first" }']) {
      const res = await user.call({
        method: 'POST',
        url: '/v1/tasks',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        payload,
      });
      expect(res.statusCode).toBe(422);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ code: 'TASKS_ERR_IDEMPOTENCY_KEY_REUSED' });
    }
    expect(await tasksOf(user.id)).toBe(1);
    expect(await eventsOf(user.id)).toBe(1);
  });

  it('scopes keys to their owner', async () => {
    const [a, b] = [await newUser(app), await newUser(app)];
    const key = randomUUID();
    const mine = await create(a, key, { title: 'same' });
    const theirs = await create(b, key, { title: 'same' });
    expect(theirs.statusCode).toBe(201);
    expect(theirs.headers['idempotent-replayed']).toBeUndefined();
    expect((theirs.json() as { id: string }).id).not.toBe((mine.json() as { id: string }).id);
  });

  it('checks the key form and leaves invalid creates unrecorded', async () => {
    const user = await newUser(app);
    const bad = await create(user, 'spaces are not allowed', { title: 'x' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'TASKS_ERR_VALIDATION' });
    // A create that fails validation records nothing: the same key then works for a valid body.
    const key = randomUUID();
    expect((await create(user, key, { title: '' })).statusCode).toBe(400);
    expect((await create(user, key, { title: 'valid' })).statusCode).toBe(201);
    expect(await tasksOf(user.id)).toBe(1);
  });

  it('creates exactly one task when the same key races on two replicas at once', async () => {
    const id = randomUUID();
    const token = await tokenFor(id);
    const key = randomUUID();
    const answers = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        (i % 2 ? app : other).inject({
          method: 'POST',
          url: '/v1/tasks',
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            'idempotency-key': key,
          },
          payload: JSON.stringify({ title: 'race' }),
        }),
      ),
    );
    // Every answer is the one task: one of them made it, the others waited on its key and replayed it.
    expect(answers.map((r) => r.statusCode)).toEqual(Array(16).fill(201));
    expect(new Set(answers.map((r) => (r.json() as { id: string }).id)).size).toBe(1);
    expect(answers.filter((r) => r.headers['idempotent-replayed'] === undefined)).toHaveLength(1);
    expect(await tasksOf(id)).toBe(1);
    expect(await eventsOf(id)).toBe(1);
  });

  it('keeps creates without a key as they were: each one a task', async () => {
    const user = await newUser(app);
    for (let i = 0; i < 2; i++)
      expect(
        (await user.call({ method: 'POST', url: '/v1/tasks', payload: { title: 'plain' } })).statusCode,
      ).toBe(201);
    expect(await tasksOf(user.id)).toBe(2);
    expect(await rows('select count(*) as n from idempotency_keys where owner_id = $1', [user.id])).toBe(0);
  });
});
