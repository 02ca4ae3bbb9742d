// The users service's own metrics, on the registry of the service defaults (served at /metrics).
import fp from 'fastify-plugin';
import { Counter } from 'prom-client';

declare module 'fastify' {
  interface FastifyInstance {
    authEvents: Counter<'event' | 'outcome'>;
  }
}

export default fp(
  async (app) => {
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
  { name: 'metrics', dependencies: ['http-metrics'] },
);
