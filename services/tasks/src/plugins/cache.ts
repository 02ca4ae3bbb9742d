// The task cache (cache/task-cache.ts) and the invalidation channel that keeps every replica's L1
// honest: an exclusive queue of this replica's own on the events exchange. While the channel is down,
// L1 is flushed and unused (invalidations in the gap would be lost); it reconnects with back-off.
import {
  assertEventsExchange,
  EVENTS_EXCHANGE,
  parseLsn,
  parseTaskEvent,
  ReconnectingConnection,
} from '@taskfleet/events';
import fp from 'fastify-plugin';
import { Gauge } from 'prom-client';
import { TaskCache } from '../cache/task-cache.ts';
import type { Config } from '../config.ts';
import { currentWalLsn } from '../tasks-repository.ts';

declare module 'fastify' {
  interface FastifyInstance {
    cache: TaskCache;
    events: ReconnectingConnection;
  }
}

/** The `queue` label of the L1 invalidation consumer's messages (amqp_messages_consumed_total). */
export const L1_QUEUE_LABEL = 'tasks.l1-invalidation';

export default fp<{ config: Config }>(
  async (app, { config }) => {
    const { metrics } = app;
    const cache = new TaskCache({
      redis: app.db.redis,
      prefix: config.REDIS_KEY_PREFIX,
      l1MaxEntries: config.CACHE_L1_MAX_ENTRIES,
      l1TtlMs: config.CACHE_L1_TTL_SECONDS * 1000,
      l2TtlSeconds: config.CACHE_L2_TTL_SECONDS,
      metrics,
      onError: (op, err) => {
        metrics.cacheErrors.inc({ op });
        app.log.debug({ err, op }, 'cache operation failed');
      },
    });
    // Read from the LRU when Prometheus scrapes: nothing on the request path.
    const registers = [app.metricsRegistry];
    new Gauge({
      name: 'tasks_l1_entries',
      help: "Entries in this replica's L1 (in-process) cache, expired ones not yet purged included",
      registers,
      collect() {
        this.set(cache.l1Size);
      },
    });
    new Gauge({
      name: 'tasks_l1_bytes',
      help:
        'Approximate size of the L1 cache: characters of its keys, cached JSON and WAL stamps (V8 keeps ' +
        'ASCII strings at one byte per character; per-entry object overhead not counted)',
      registers,
      collect() {
        this.set(cache.l1Bytes);
      },
    });
    // Every replica's queue is its own, exclusive and named by RabbitMQ (amq.gen-…, new at every
    // reconnection): the label names its role instead, so reconnections don't add series.
    const consumed = metrics.amqpConsumed.labels({ queue: L1_QUEUE_LABEL, outcome: 'ack' });
    consumed.inc(0); // the series exists before the first event
    let subscribedAt = 0n;
    const events = new ReconnectingConnection({
      url: config.AMQP_URL,
      async setup(connection) {
        const ch = await connection.createChannel();
        await assertEventsExchange(ch);
        // Server-named, exclusive, auto-deleted: this replica's own, gone with its connection.
        const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
        await ch.bindQueue(queue, EVENTS_EXCHANGE, 'task.*');
        await ch.consume(
          queue,
          (msg) => {
            if (!msg) return;
            consumed.inc(); // noAck: acked as delivered, a malformed one too (dropped below, logged)
            try {
              const event = parseTaskEvent(msg.content);
              cache.evictLocal(event.ownerId, event.taskId, parseLsn(event.lsn));
              metrics.invalidationsReceived.inc({ type: event.type });
              metrics.invalidationLatency.observe(
                Math.max(0, Date.now() - Date.parse(event.occurredAt)) / 1000,
              );
            } catch (err) {
              app.log.warn({ err }, 'ignoring a malformed task event');
            }
          },
          // Losing a message only matters while connected, and a lost connection flushes L1 anyway.
          { noAck: true },
        );
        // Consuming now: every write committed after this position will reach us as an event.
        subscribedAt = parseLsn(await currentWalLsn(app.db.primary));
      },
      onConnected: () => {
        cache.enableL1(subscribedAt);
        metrics.eventsConnected.set(1);
        app.log.info('invalidation channel up: L1 cache in use');
      },
      onLost: () => {
        cache.disableL1();
        metrics.eventsConnected.set(0);
      },
      log: (msg, err) => app.log.warn({ err }, msg),
    });
    app.decorate('cache', cache);
    app.decorate('events', events);
    events.start();
    app.addHook('onClose', async () => {
      await events.stop();
    });
  },
  { name: 'cache', dependencies: ['metrics', 'database'] },
);
