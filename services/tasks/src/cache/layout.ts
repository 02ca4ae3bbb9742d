import { lsnHex } from '@taskfleet/events';
import type { Redis } from 'ioredis';

// The Redis layout of the task cache (task-cache.ts): its keys, and the one script that invalidates a
// task — used by the task service (which fills and deletes entries) and by the worker's durable
// invalidator, which deletes them again from the event log in case a writer died between its commit
// and its own delete (ADR 0010). List and summary keys carry the owner's generation number:
// a write bumps it, and every older list/summary key is unreachable at once — no KEYS/SCAN.
export const cacheKeys = (prefix: string) => ({
  task: (owner: string, id: string) => `${prefix}c:t:${owner}:${id}`,
  /** The owner's generation of list and summary results. */
  generation: (owner: string) => `${prefix}c:g:${owner}`,
  list: (owner: string, generation: number, query: string) => `${prefix}c:l:${owner}:${generation}:${query}`,
  summary: (owner: string, generation: number) => `${prefix}c:s:${owner}:${generation}`,
});
export type CacheKeys = ReturnType<typeof cacheKeys>;

// After a task changed at WAL position `lsn` (16-hex): drop its cached entry, raise its write floor (a
// fill stamped older than the floor is refused), and bump the owner's list/summary generation.
// Idempotent but for the generation, whose extra bumps only cost cache misses.
const INVALIDATE_TASK = `
redis.call('DEL', KEYS[1])
local floor = redis.call('GET', KEYS[2])
if (not floor) or ARGV[1] > floor then redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2]) else redis.call('EXPIRE', KEYS[2], ARGV[2]) end
local g = redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], 86400)
return g`;

/** The key holding a task entry's write floor. */
export const floorKey = (taskKey: string) => `${taskKey}:w`;

export async function invalidateTask(
  redis: Pick<Redis, 'eval'>,
  keys: CacheKeys,
  owner: string,
  taskId: string,
  lsn: bigint,
  floorTtlSeconds: number,
): Promise<void> {
  const key = keys.task(owner, taskId);
  await redis.eval(
    INVALIDATE_TASK,
    3,
    key,
    floorKey(key),
    keys.generation(owner),
    lsnHex(lsn),
    floorTtlSeconds,
  );
}
