import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { testStack } from '../src/vitest/index.ts';

const stack = testStack();

describe('redis', () => {
  const redis = new Redis({ ...stack.redis, maxRetriesPerRequest: 1 });
  const other = new Redis({ ...stack.redis, db: 0, maxRetriesPerRequest: 1 });
  afterAll(() => {
    redis.disconnect();
    other.disconnect();
  });

  it('round-trips a value with a TTL in this worker database', async () => {
    const key = `${stack.prefix}round-trip`;
    await redis.set(key, 'hello', 'PX', 10_000);
    expect(await redis.get(key)).toBe('hello');
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(10_000);
    // Isolation: another worker's database does not see it.
    expect(await other.get(key)).toBeNull();
  });

  it('keeps nothing on disk (cache, not a database)', async () => {
    const save = (await redis.config('GET', 'save')) as string[];
    const aof = (await redis.config('GET', 'appendonly')) as string[];
    expect(save[1]).toBe('');
    expect(aof[1]).toBe('no');
  });
});

describe('rabbitmq', () => {
  it('publishes with confirms and consumes on this worker vhost', async () => {
    const conn = await amqp.connect(stack.amqpUrl);
    try {
      const ch = await conn.createConfirmChannel();
      const exchange = 'infra.check';
      await ch.assertExchange(exchange, 'topic', { durable: false, autoDelete: true });
      const { queue } = await ch.assertQueue('', { exclusive: true });
      await ch.bindQueue(queue, exchange, 'task.*');
      const received = new Promise<{ body: string; key: string }>((resolve) => {
        void ch.consume(
          queue,
          (msg) => {
            if (!msg) return;
            ch.ack(msg);
            resolve({ body: msg.content.toString(), key: msg.fields.routingKey });
          },
          { noAck: false },
        );
      });
      ch.publish(exchange, 'task.created', Buffer.from('{"id":1}'), { contentType: 'application/json' });
      await ch.waitForConfirms();
      await expect(received).resolves.toEqual({ body: '{"id":1}', key: 'task.created' });
      await ch.close();
    } finally {
      await conn.close();
    }
  });

  it('keeps vhosts apart: a queue declared in one vhost is not in another', async () => {
    const mine = await amqp.connect(stack.amqpUrl);
    const base = stack.amqpUrl.replace(/\/[^/]+$/, '/taskfleet');
    const theirs = await amqp.connect(base);
    try {
      const ch = await mine.createChannel();
      const name = `${stack.prefix}isolation`;
      await ch.assertQueue(name, { durable: false, autoDelete: false });
      const other = await theirs.createChannel();
      other.on('error', () => {});
      await expect(other.checkQueue(name)).rejects.toThrow(/NOT_FOUND/);
      await ch.deleteQueue(name);
    } finally {
      await mine.close();
      await theirs.close().catch(() => {});
    }
  });
});
