// The event path's metrics on /metrics, against the real stack: a task write relayed by the worker
// (outbox_relay_lag_seconds, amqp_messages_published_total), consumed by its durable invalidator and by
// a task replica's L1 consumer (amqp_messages_consumed_total, ack or dead_letter), and the worker's
// Postgres pool (db_pool_*).
import { EVENTS_EXCHANGE } from '@taskfleet/events';
import { build, newUser } from '@taskfleet/tasks/testing';
import amqp from 'amqplib';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from '../src/app.ts';
import { stack, startWorker, until } from './helper.ts';

const INVALIDATOR_QUEUE = 'tasks.cache-invalidation'; // the worker's default
const L1_QUEUE = 'tasks.l1-invalidation'; // the label of every task replica's own queue

let worker: Worker;
let tasks: FastifyInstance;
beforeAll(async () => {
  worker = await startWorker();
  tasks = await build();
  await until('the task replica consuming (L1 in use)', () => tasks.events.connected);
});
afterAll(async () => {
  await tasks?.close();
  await worker?.app.close();
});

const scrape = async (app: FastifyInstance) => (await app.inject({ method: 'GET', url: '/metrics' })).body;

/** `name`'s value summed over the series whose labels include `labels` (0 when there is none). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`, 'gm'))) {
    if (Object.entries(labels).every(([k, v]) => (m[1] ?? '').includes(`${k}="${v}"`))) sum += Number(m[2]);
  }
  return sum;
}

/** Waits until `name{labels}` on `app` is above `floor`; returns the whole scrape. */
async function untilAbove(app: FastifyInstance, name: string, labels: Record<string, string>, floor: number) {
  return until(`${name} ${JSON.stringify(labels)} above ${floor}`, async () => {
    const text = await scrape(app);
    return sample(text, name, labels) > floor && text;
  });
}

describe('event metrics', () => {
  it('observes the relay lag and counts the publication and both consumers of a task event', async () => {
    const [w0, t0] = await Promise.all([scrape(worker.app), scrape(tasks)]);
    const exchange = { exchange: EVENTS_EXCHANGE };
    const durableAck = { queue: INVALIDATOR_QUEUE, outcome: 'ack' };
    const l1Ack = { queue: L1_QUEUE, outcome: 'ack' };

    const user = await newUser(tasks);
    expect(
      (await user.call({ method: 'POST', url: '/v1/tasks', payload: { title: 'metered' } })).statusCode,
    ).toBe(201);

    const published = await untilAbove(
      worker.app,
      'amqp_messages_published_total',
      exchange,
      sample(w0, 'amqp_messages_published_total', exchange),
    );
    const lagCount = (t: string) => sample(t, 'outbox_relay_lag_seconds_count');
    expect(lagCount(published)).toBeGreaterThan(lagCount(w0));
    expect(sample(published, 'outbox_relay_lag_seconds_sum')).toBeGreaterThan(
      sample(w0, 'outbox_relay_lag_seconds_sum'),
    );
    // The relay publishes to the events exchange only.
    expect(published).not.toMatch(/^amqp_messages_published_total\{exchange="(?!taskfleet\.events")/m);

    await untilAbove(
      worker.app,
      'amqp_messages_consumed_total',
      durableAck,
      sample(w0, 'amqp_messages_consumed_total', durableAck),
    );
    await untilAbove(
      tasks,
      'amqp_messages_consumed_total',
      l1Ack,
      sample(t0, 'amqp_messages_consumed_total', l1Ack),
    );
  });

  it('counts a message that is not a task event as dead-lettered by the durable invalidator', async () => {
    const deadLettered = { queue: INVALIDATOR_QUEUE, outcome: 'dead_letter' };
    const before = sample(await scrape(worker.app), 'amqp_messages_consumed_total', deadLettered);
    const connection = await amqp.connect(stack.amqpUrl);
    try {
      const ch = await connection.createConfirmChannel();
      ch.publish(EVENTS_EXCHANGE, 'task.updated', Buffer.from(`poison ${crypto.randomUUID()}`), {
        persistent: true,
      });
      await ch.waitForConfirms();
    } finally {
      await connection.close();
    }
    await untilAbove(worker.app, 'amqp_messages_consumed_total', deadLettered, before);
  });

  it("measures the worker's Postgres pool", async () => {
    const text = await scrape(worker.app);
    expect(sample(text, 'db_pool_connections', { pool: 'worker', state: 'total' })).toBeGreaterThan(0);
    expect(text).toMatch(/^db_pool_connections\{pool="worker",state="idle"\} \d+$/m);
    expect(text).toMatch(/^db_pool_waiting_clients\{pool="worker"\} 0$/m);
    expect(sample(text, 'db_pool_acquire_duration_seconds_count', { pool: 'worker' })).toBeGreaterThan(0);
  });
});
