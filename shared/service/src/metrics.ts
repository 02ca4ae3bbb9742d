// Every service's Prometheus basics: a registry of the app's own (tests build several apps in one
// process), process metrics, the request-duration histogram by route, and GET /metrics. Services add
// their own metrics to `app.metricsRegistry`.
import fp from 'fastify-plugin';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { tracingRegistry } from './tracing.ts';

declare module 'fastify' {
  interface FastifyInstance {
    metricsRegistry: Registry;
  }
}

export const httpMetrics = fp(
  async (app) => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const duration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by method, route and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
    app.decorate('metricsRegistry', registry);
    app.addHook('onResponse', async (request, reply) => {
      // The route pattern, never the raw URL: label values must stay bounded.
      const route = request.routeOptions.url ?? 'unmatched';
      duration.observe(
        { method: request.method, route, status_code: reply.statusCode },
        reply.elapsedTime / 1000,
      );
    });
    // Scraped every few seconds: not worth a log line each time.
    app.get('/metrics', { schema: { hide: true }, logLevel: 'warn' }, async (_request, reply) => {
      reply.type(registry.contentType);
      // The app's metrics, then the process-wide tracing SDK's (tracing.ts).
      return `${await registry.metrics()}\n${await tracingRegistry.metrics()}`;
    });
  },
  { name: 'http-metrics' },
);
