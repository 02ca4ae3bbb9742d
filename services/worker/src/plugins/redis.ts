// The shared cache's Redis, where the durable invalidator deletes entries again.
import { redisClient } from '@taskfleet/service';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis;
  }
}

export default fp<{ config: Config }>(
  async (app, { config }) => {
    // An invalidation that fails is retried with back-off (jobs/invalidator.ts): waiting longer buys nothing.
    app.decorate('redis', await redisClient(app, config.REDIS_URL, { commandTimeoutMs: 500 }));
  },
  { name: 'redis' },
);
