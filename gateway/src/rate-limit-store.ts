// Rate limits with @fastify/rate-limit on Redis, shared by every gateway replica: the total over all
// replicas stays within the limit. When Redis can't answer (fast: 100 ms), each gateway falls back to
// a local counter — limits then hold per replica (N replicas allow up to N× the limit) instead of
// failing open or failing every request.
import { createRequire } from 'node:module';
import type { FastifyRateLimitOptions, FastifyRateLimitStore } from '@fastify/rate-limit';
import type { Redis } from 'ioredis';

type Store = FastifyRateLimitStore;
/** What the plugin passes to a store (its global options, or a route's merged ones). */
type StoreParams = { continueExceeding?: boolean; exponentialBackoff?: boolean };
type StoreClass = new (...args: unknown[]) => Store;

// The plugin's own stores (CommonJS, no typings): the same counting, in Redis and in memory.
const require = createRequire(import.meta.url);
const RedisStore = require('@fastify/rate-limit/store/RedisStore.js') as StoreClass;
const LocalStore = require('@fastify/rate-limit/store/LocalStore.js') as StoreClass;

export function redisWithLocalFallback(redis: Redis, nameSpace: string, onFallback: () => void) {
  class FallbackStore implements Store {
    private readonly shared: Store;
    private readonly local: Store;

    constructor(options: FastifyRateLimitOptions | StoreParams, stores?: { shared: Store; local: Store }) {
      const params = options as StoreParams;
      this.shared =
        stores?.shared ??
        new RedisStore(params.continueExceeding, params.exponentialBackoff, redis, nameSpace);
      this.local =
        stores?.local ?? new LocalStore(params.continueExceeding, params.exponentialBackoff, 10_000);
    }

    incr(key: string, cb: Parameters<Store['incr']>[1], timeWindow: number, max: number): void {
      this.shared.incr(
        key,
        (err, result) => {
          if (!err) return cb(null, result);
          onFallback();
          this.local.incr(key, cb, timeWindow, max);
        },
        timeWindow,
        max,
      );
    }

    child(routeOptions: Parameters<Store['child']>[0]): Store {
      return new FallbackStore(routeOptions as StoreParams, {
        shared: this.shared.child(routeOptions),
        local: this.local.child(routeOptions),
      });
    }
  }
  return FallbackStore;
}
