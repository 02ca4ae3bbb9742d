// The worker's maintenance pass against the real tasks database: Idempotency-Keys are kept for their
// retention, then removed in batches that step around rows a writer holds instead of waiting for them.
import { randomUUID } from 'node:crypto';
import { build, newUser } from '@taskfleet/tasks/testing';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from '../src/app.ts';
import { stack, startWorker } from './helper.ts';

let tasks: FastifyInstance;
let worker: Worker;
beforeAll(async () => {
  tasks = await build();
  worker = await startWorker({ IDEMPOTENCY_KEY_RETENTION_HOURS: '24' });
});
afterAll(async () => {
  await worker?.app.close();
  await tasks?.close();
});

describe('idempotency key retention', () => {
  it('removes keys past their retention, keeps the rest, and never waits on a row a writer holds', async () => {
    const user = await newUser(tasks);
    const create = (key: string) =>
      user.call({
        method: 'POST',
        url: '/v1/tasks',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        payload: JSON.stringify({ title: key }),
      });
    const keys = Array.from({ length: 4 }, () => randomUUID());
    for (const key of keys) expect((await create(key)).statusCode).toBe(201);
    const db = new pg.Client({ connectionString: stack.env.DATABASE_PRIMARY_URL });
    const holder = new pg.Client({ connectionString: stack.env.DATABASE_PRIMARY_URL });
    await Promise.all([db.connect(), holder.connect()]);
    try {
      const ageOf = async () =>
        (
          await db.query<{ title: string }>(
            `select t.title from idempotency_keys k join tasks t on t.owner_id = k.owner_id and t.id = k.task_id
              where k.owner_id = $1 order by t.title`,
            [user.id],
          )
        ).rows.map((r) => r.title);
      // Three of the four keys were used 25 hours ago; one of those is locked by a transaction.
      const [fresh, old1, old2, held] = keys as [string, string, string, string];
      await db.query(
        `update idempotency_keys k set created_at = now() - interval '25 hours'
           from tasks t where t.owner_id = k.owner_id and t.id = k.task_id and k.owner_id = $1 and t.title = any($2)`,
        [user.id, [old1, old2, held]],
      );
      await holder.query('begin');
      await holder.query(
        `select 1 from idempotency_keys k join tasks t on t.owner_id = k.owner_id and t.id = k.task_id
          where k.owner_id = $1 and t.title = $2 for update of k`,
        [user.id, held],
      );
      await worker.maintain(); // would hang here if retention waited for the held row
      expect(await ageOf()).toEqual([fresh, held].sort());
      await holder.query('rollback');
      await worker.maintain();
      expect(await ageOf()).toEqual([fresh]);
      // An expired key is a new key: a create with it runs again (documented: keys are kept 24 h).
      const again = await create(old1);
      expect(again.headers['idempotent-replayed']).toBeUndefined();
      const replay = await create(fresh);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      const metrics = await worker.app.inject({ method: 'GET', url: '/metrics' });
      expect(metrics.body).toMatch(/^worker_idempotency_keys_expired_total [1-9]/m);
    } finally {
      await Promise.all([db.end(), holder.end()]);
    }
  });
});

describe('the service defaults on the worker', () => {
  it('reports its checks, serves the shared HTTP metrics and its own, and answers unknown paths as a problem', async () => {
    const ready = await worker.app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'ready', checks: { shutdown: 'no', database: 'ok' } });
    expect(ready.json().checks.amqp).toMatch(/^(ok|degraded: reconnecting)$/);

    const metrics = (await worker.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(
      /^http_request_duration_seconds_count\{method="GET",route="\/health\/ready",status_code="200"\} 1$/m,
    );
    expect(metrics).toMatch(/^outbox_backlog \d+$/m);
    expect(metrics).toMatch(/^process_cpu_seconds_total /m);

    const missing = await worker.app.inject({ method: 'GET', url: '/nope' });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(missing.json().code).toBe('WORKER_ERR_ROUTE_NOT_FOUND');
  });
});
