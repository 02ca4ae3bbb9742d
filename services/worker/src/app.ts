// The worker: outbox relay, durable cache invalidator and partition maintenance, with health and
// metrics endpoints. Any number of workers may run (SKIP LOCKED relay, one shared quorum queue).
import { ReconnectingConnection } from '@taskfleet/events';
import { accessLog, serviceOptions } from '@taskfleet/service';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { Config } from './config.ts';
import { consumeInvalidations } from './invalidator.ts';
import { OutboxRelay } from './relay.ts';

const KEY_EXPIRY_BATCH = 5_000;

export interface Worker {
  app: FastifyInstance;
  relay: OutboxRelay;
  /** One maintenance pass: partitions ahead, old sent outbox rows and expired idempotency keys removed. */
  maintain(): Promise<void>;
}

export async function buildWorker(
  config: Config,
  opts: { logger?: FastifyServerOptions['logger'] } = {},
): Promise<Worker> {
  const app = Fastify(serviceOptions({ logger: opts.logger }));
  await app.register(accessLog);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const published = new Counter({
    name: 'outbox_published_total',
    help: 'Events published and confirmed by RabbitMQ',
    registers,
  });
  const publishFailures = new Counter({
    name: 'outbox_publish_failures_total',
    help: 'Relay batches that failed (rolled back, retried)',
    registers,
  });
  const backlog = new Gauge({ name: 'outbox_backlog', help: 'Outbox events not yet published', registers });
  const oldest = new Gauge({
    name: 'outbox_oldest_unsent_age_seconds',
    help: 'Age of the oldest unpublished event',
    registers,
  });
  const invalidations = new Counter({
    name: 'worker_invalidations_total',
    help: 'Durable invalidator outcomes',
    labelNames: ['outcome'],
    registers,
  });
  const invalidationsWaiting = new Gauge({
    name: 'worker_invalidations_waiting',
    help: 'Invalidations held back until Redis answers again',
    registers,
  });
  const expiredKeys = new Counter({
    name: 'worker_idempotency_keys_expired_total',
    help: 'Idempotency keys of creates removed after their retention',
    registers,
  });
  const amqpConnected = new Gauge({
    name: 'worker_amqp_connected',
    help: '1 while connected to RabbitMQ',
    registers,
  });

  const pool = new pg.Pool({
    connectionString: config.DATABASE_PRIMARY_URL,
    max: 4,
    connectionTimeoutMillis: 2_000,
    query_timeout: 10_000,
    application_name: 'worker',
  });
  pool.on('error', (err) => app.log.warn({ err }, 'idle database connection lost'));
  const redis = new Redis(config.REDIS_URL, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 500,
    lazyConnect: true,
  });
  redis.on('error', () => {});
  redis.connect().catch(() => {});

  const relay = new OutboxRelay(pool, {
    batch: config.RELAY_BATCH,
    onPublished: (n) => published.inc(n),
    onFailure: (err) => {
      publishFailures.inc();
      app.log.warn({ err }, 'outbox relay batch failed; retrying');
    },
  });
  const amqp = new ReconnectingConnection({
    url: config.AMQP_URL,
    async setup(connection) {
      relay.channel = await connection.createConfirmChannel();
      relay.channel.on('error', () => {});
      await consumeInvalidations(connection, {
        queue: config.INVALIDATOR_QUEUE,
        redis,
        keyPrefix: config.REDIS_KEY_PREFIX,
        floorTtlSeconds: 300,
        onHandled: (outcome) => invalidations.inc({ outcome }),
        onWaiting: (delta) => invalidationsWaiting.inc(delta),
      });
    },
    onConnected: () => amqpConnected.set(1),
    onLost: () => {
      relay.channel = undefined;
      amqpConnected.set(0);
    },
    log: (msg, err) => app.log.warn({ err }, msg),
  });

  async function maintain(): Promise<void> {
    await pool.query('select taskfleet_ensure_partitions()');
    await pool.query(
      `delete from outbox where seq in (select seq from outbox where sent_at < now() - make_interval(hours => $1) limit 10000)`,
      [config.OUTBOX_RETENTION_HOURS],
    );
    // Batch after batch, each its own short transaction, until one comes back short (or a pass's worth).
    for (let batch = 0; batch < 100; batch++) {
      const r = await pool.query<{ n: number }>(
        'select taskfleet_expire_idempotency_keys(make_interval(hours => $1), $2) as n',
        [config.IDEMPOTENCY_KEY_RETENTION_HOURS, KEY_EXPIRY_BATCH],
      );
      expiredKeys.inc(r.rows[0]!.n);
      if (r.rows[0]!.n < KEY_EXPIRY_BATCH) break;
    }
  }
  async function measureBacklog(): Promise<void> {
    const r = await pool.query<{ n: number; age: number | null }>(
      'select count(*)::int as n, extract(epoch from clock_timestamp() - min(occurred_at))::float8 as age from outbox where sent_at is null',
    );
    backlog.set(r.rows[0]!.n);
    oldest.set(r.rows[0]!.age ?? 0);
  }

  app.get('/health/live', { logLevel: 'warn' }, async () => ({ status: 'ok' }));
  app.get('/health/ready', { logLevel: 'warn' }, async (_req, reply) => {
    let database = 'ok';
    try {
      await pool.query('select 1');
    } catch {
      database = 'unreachable';
    }
    // Without RabbitMQ the worker can't relay, but it stays up to drain the backlog when it returns.
    const ready = database === 'ok';
    return reply.code(ready ? 200 : 503).send({
      status: ready ? 'ready' : 'not ready',
      checks: { database, amqp: amqp.connected ? 'ok' : 'reconnecting' },
    });
  });
  app.get('/metrics', { logLevel: 'warn' }, async (_req, reply) => {
    await measureBacklog().catch(() => {});
    reply.type(registry.contentType);
    return registry.metrics();
  });

  const timers: NodeJS.Timeout[] = [];
  app.addHook('onReady', async () => {
    amqp.start();
    relay.start(config.RELAY_POLL_MS);
    const every = (ms: number, fn: () => Promise<void>) => {
      const t = setInterval(() => void fn().catch((err) => app.log.warn({ err }, 'periodic job failed')), ms);
      t.unref();
      timers.push(t);
    };
    every(config.MAINTENANCE_INTERVAL_SECONDS * 1000, maintain);
    every(5_000, measureBacklog);
  });
  app.addHook('onClose', async () => {
    for (const t of timers) clearInterval(t);
    await relay.stop();
    await amqp.stop();
    redis.disconnect();
    await pool.end();
  });
  return { app, relay, maintain };
}
