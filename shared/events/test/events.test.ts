// The event contract and the invalidation script every consumer relies on, the latter against real Redis.
import { randomUUID } from 'node:crypto';
import { testStack } from '@taskfleet/infra/vitest';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { TaskEvent } from '../src/index.ts';
import {
  cacheKeys,
  floorKey,
  formatLsn,
  invalidateTask,
  lsnHex,
  parseLsn,
  parseTaskEvent,
} from '../src/index.ts';

const event: TaskEvent = {
  id: randomUUID(),
  type: 'task.updated',
  occurredAt: '2026-11-23T10:00:00.000Z',
  ownerId: randomUUID(),
  taskId: randomUUID(),
  version: 2,
  lsn: '16/B374D848',
};
const body = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('task events', () => {
  it('parses a well-formed event', () => {
    expect(parseTaskEvent(body(event))).toEqual(event);
  });

  it.each([
    ['not JSON', Buffer.from('poison')],
    ['null', body(null)],
    ['an unknown type', body({ ...event, type: 'task.archived' })],
    ['a bad id', body({ ...event, id: 'x' })],
    ['a bad owner', body({ ...event, ownerId: '../etc' })],
    ['a fractional version', body({ ...event, version: 1.5 })],
    ['a bad timestamp', body({ ...event, occurredAt: 'yesterday' })],
    ['a bad WAL position', body({ ...event, lsn: '16:B374D848' })],
    ['a missing field', body({ ...event, taskId: undefined })],
  ])('rejects %s', (_, message) => {
    expect(() => parseTaskEvent(message)).toThrow();
  });
});

describe('WAL positions', () => {
  it('round-trips and orders as numbers, and as fixed-width hex strings', () => {
    const positions = ['0/0', '0/FFFFFFFF', '1/0', '16/B374D848', 'FFFFFFFF/FFFFFFFF'];
    for (const p of positions) expect(formatLsn(parseLsn(p))).toBe(p);
    const values = positions.map(parseLsn);
    const hex = values.map(lsnHex);
    expect([...hex].sort()).toEqual(hex); // string order = numeric order (what the Lua scripts compare)
    expect(values.every((v, i) => i === 0 || v > values[i - 1]!)).toBe(true);
    expect(() => parseLsn('16/B374D848/1')).toThrow();
  });
});

describe('invalidateTask (Redis)', () => {
  const stack = testStack();
  const redis = new Redis(stack.env.REDIS_URL!);
  afterAll(() => redis.disconnect());
  const keys = cacheKeys(`${stack.prefix}events-test:`);

  it('deletes the entry, raises the floor only forwards, and bumps the owner generation', async () => {
    const owner = randomUUID();
    const task = randomUUID();
    const key = keys.task(owner, task);
    await redis.set(key, 'cached', 'EX', 60);
    await invalidateTask(redis, keys, owner, task, 200n, 30);
    expect(await redis.exists(key)).toBe(0);
    expect(await redis.get(floorKey(key))).toBe(lsnHex(200n));
    expect(await redis.ttl(floorKey(key))).toBeGreaterThan(0);
    expect(await redis.get(keys.generation(owner))).toBe('1');

    // An older event arriving late (redelivery, another relay) never lowers the floor.
    await invalidateTask(redis, keys, owner, task, 100n, 30);
    expect(await redis.get(floorKey(key))).toBe(lsnHex(200n));
    await invalidateTask(redis, keys, owner, task, 300n, 30);
    expect(await redis.get(floorKey(key))).toBe(lsnHex(300n));
    expect(await redis.get(keys.generation(owner))).toBe('3');
  });
});
