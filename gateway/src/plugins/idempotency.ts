// Idempotency-Key claims in Redis (idempotency.ts, ADR 0009), on a connection of their own: claims wait
// longer than rate limits (on a saturated host Redis answers can take over 100 ms,
// docs/performance.md), then fall back to the services' own record of keys.
import { activeSpan, redisClient } from '@taskfleet/service';
import fp from 'fastify-plugin';
import { Counter, Gauge } from 'prom-client';
import type { Config } from '../config.ts';
import { IdempotencyKeys } from '../idempotency.ts';

declare module 'fastify' {
  interface FastifyInstance {
    idempotency: IdempotencyKeys;
  }
}

export default fp<{ config: Config }>(
  async (app, { config }) => {
    const redis = await redisClient(app, config.REDIS_URL, {
      commandTimeoutMs: config.IDEMPOTENCY_REDIS_TIMEOUT_MS,
      maxRetriesPerRequest: 0,
    });
    const registers = [app.metricsRegistry];
    const decisions = new Counter({
      name: 'gateway_idempotency_decisions_total',
      help: 'Requests with an Idempotency-Key by decision: claimed (ran), replayed, in_flight (409), key_reused (422), store_down_ran (Redis away, the service enforced the key), store_down_refused (503)',
      labelNames: ['decision'],
      registers,
    });
    const idempotency = new IdempotencyKeys({
      redis,
      prefix: config.REDIS_KEY_PREFIX,
      ttlSeconds: config.IDEMPOTENCY_TTL_SECONDS,
      leaseMs: config.IDEMPOTENCY_LEASE_MS,
      onDecision: (decision) => {
        decisions.inc({ decision });
        activeSpan()?.setAttribute('idempotency.decision', decision); // in a trace, on the request's span
      },
      log: app.log,
    });
    new Gauge({
      name: 'gateway_idempotency_pending_writes',
      help: 'Idempotency releases and answers waiting for Redis to be reachable again',
      registers,
      collect() {
        this.set(idempotency.pending);
      },
    });
    app.decorate('idempotency', idempotency);
  },
  { name: 'idempotency', dependencies: ['http-metrics'] },
);
