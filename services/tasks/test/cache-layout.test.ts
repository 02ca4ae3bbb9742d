// The cache layout's invalidation script, which the task service and the worker's invalidator both
// run, against real Redis.
import { randomUUID } from 'node:crypto';
import { lsnHex } from '@taskfleet/events';
import { testStack } from '@taskfleet/infra/vitest';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { cacheKeys, floorKey, invalidateTask } from '../src/cache/layout.ts';

describe('invalidateTask (Redis)', () => {
  const stack = testStack();
  const redis = new Redis(stack.env.REDIS_URL!);
  afterAll(() => redis.disconnect());
  const keys = cacheKeys(`${stack.prefix}layout-test:`);

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
