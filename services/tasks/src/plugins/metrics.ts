// The task service's own metrics, on the registry of the service defaults (served at /metrics).
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

function createMetrics(registry: Registry) {
  const registers = [registry];
  return {
    dbReads: new Counter({
      name: 'tasks_db_reads_total',
      help: 'Reads by where they ran (replica | primary) and why the primary, when it was',
      labelNames: ['target', 'reason'],
      registers,
    }),
    replicaReadFailures: new Counter({
      name: 'tasks_db_replica_read_failures_total',
      help: 'Reads that failed on a replica and were retried on the primary',
      labelNames: ['replica'],
      registers,
    }),
    idempotentReplays: new Counter({
      name: 'tasks_idempotent_replays_total',
      help: 'Creates whose Idempotency-Key had already run: the first answer returned, nothing inserted',
      registers,
    }),
    replicaLagBytes: new Gauge({
      name: 'tasks_db_replica_lag_bytes',
      help: 'WAL bytes a replica has not replayed',
      labelNames: ['replica'],
      registers,
    }),
    replicaLagSeconds: new Gauge({
      name: 'tasks_db_replica_lag_seconds',
      help: 'Replay delay of a replica, seconds',
      labelNames: ['replica'],
      registers,
    }),
    replicaInRotation: new Gauge({
      name: 'tasks_db_replica_in_rotation',
      help: '1 when a replica serves reads',
      labelNames: ['replica'],
      registers,
    }),
    cacheHits: new Counter({
      name: 'tasks_cache_hits_total',
      help: 'Cache hits by layer (l1|l2) and kind',
      labelNames: ['layer', 'kind'],
      registers,
    }),
    cacheMisses: new Counter({
      name: 'tasks_cache_misses_total',
      help: 'Cache misses by layer and kind',
      labelNames: ['layer', 'kind'],
      registers,
    }),
    cacheFills: new Counter({
      name: 'tasks_cache_fills_total',
      help: 'Entries stored, by layer and kind',
      labelNames: ['layer', 'kind'],
      registers,
    }),
    cacheEvictions: new Counter({
      name: 'tasks_cache_evictions_total',
      help: 'L1 entries removed: invalidation, capacity, or flush (event channel lost)',
      labelNames: ['layer', 'reason'],
      registers,
    }),
    cacheErrors: new Counter({
      name: 'tasks_cache_errors_total',
      help: 'Redis cache operations that failed',
      labelNames: ['op'],
      registers,
    }),
    invalidationsReceived: new Counter({
      name: 'tasks_invalidations_received_total',
      help: 'Task events received on this replica',
      labelNames: ['type'],
      registers,
    }),
    invalidationLatency: new Histogram({
      name: 'tasks_invalidation_latency_seconds',
      help: 'From the write (event occurredAt) to its eviction on this replica',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    amqpConsumed: new Counter({
      name: 'amqp_messages_consumed_total',
      help: 'Messages consumed from RabbitMQ by how they were settled (the L1 consumer acks on delivery), by queue',
      labelNames: ['queue', 'outcome'],
      registers,
    }),
    eventsConnected: new Gauge({
      name: 'tasks_events_connected',
      help: '1 while the invalidation channel is up (L1 in use)',
      registers,
    }),
    tokenStoreErrors: new Counter({
      name: 'tasks_consistency_token_errors_total',
      help: 'Failures to record or look up read-your-writes positions (Redis down)',
      labelNames: ['op'],
      registers,
    }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics;
  }
}

export default fp(
  async (app) => {
    app.decorate('metrics', createMetrics(app.metricsRegistry));
  },
  { name: 'metrics', dependencies: ['http-metrics'] },
);
