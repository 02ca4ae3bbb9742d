// The worker's own metrics, on the registry of the service defaults (served at /metrics). The outbox
// backlog gauges are the database plugin's: they are measured there, when Prometheus scrapes.
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

function createMetrics(registry: Registry) {
  const registers = [registry];
  return {
    published: new Counter({
      name: 'outbox_published_total',
      help: 'Events published and confirmed by RabbitMQ',
      registers,
    }),
    relayLag: new Histogram({
      name: 'outbox_relay_lag_seconds',
      help: 'From an event written to the outbox (its occurred_at) to RabbitMQ confirming its publication',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    }),
    amqpPublished: new Counter({
      name: 'amqp_messages_published_total',
      help: 'Messages published to RabbitMQ and confirmed by it, by exchange',
      labelNames: ['exchange'],
      registers,
    }),
    amqpConsumed: new Counter({
      name: 'amqp_messages_consumed_total',
      help: 'Messages consumed from RabbitMQ by how they were settled (ack | dead_letter), by queue',
      labelNames: ['queue', 'outcome'],
      registers,
    }),
    publishFailures: new Counter({
      name: 'outbox_publish_failures_total',
      help: 'Relay batches that failed (rolled back, retried)',
      registers,
    }),
    invalidations: new Counter({
      name: 'worker_invalidations_total',
      help: 'Durable invalidator outcomes',
      labelNames: ['outcome'],
      registers,
    }),
    invalidationsWaiting: new Gauge({
      name: 'worker_invalidations_waiting',
      help: 'Invalidations held back until Redis answers again',
      registers,
    }),
    expiredKeys: new Counter({
      name: 'worker_idempotency_keys_expired_total',
      help: 'Idempotency keys of creates removed after their retention',
      registers,
    }),
    amqpConnected: new Gauge({
      name: 'worker_amqp_connected',
      help: '1 while connected to RabbitMQ',
      registers,
    }),
  };
}
export type WorkerMetrics = ReturnType<typeof createMetrics>;

declare module 'fastify' {
  interface FastifyInstance {
    workerMetrics: WorkerMetrics;
  }
}

export default fp(
  async (app) => {
    app.decorate('workerMetrics', createMetrics(app.metricsRegistry));
  },
  { name: 'metrics', dependencies: ['http-metrics'] },
);
