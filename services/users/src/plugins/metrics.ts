// The users service's own metrics, on the registry of the shared HTTP metrics (served at /metrics).
import { httpMetrics } from '@taskfleet/service';
import fp from 'fastify-plugin';
import { Counter } from 'prom-client';

declare module 'fastify' {
  interface FastifyInstance {
    authEvents: Counter<'event' | 'outcome'>;
  }
}

export default fp(
  async (app) => {
    await app.register(httpMetrics);
    app.decorate(
      'authEvents',
      new Counter({
        name: 'users_auth_events_total',
        help: 'Authentication events by kind (register|login|refresh|logout) and outcome',
        labelNames: ['event', 'outcome'],
        registers: [app.metricsRegistry],
      }),
    );
  },
  { name: 'metrics' },
);
