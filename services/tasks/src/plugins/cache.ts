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
import { TaskCache } from '../cache/task-cache.ts';
import type { Config } from '../config.ts';
import { currentWalLsn } from '../tasks-repository.ts';

declare module 'fastify' {
  interface FastifyInstance {
    cache: TaskCache;
    events: ReconnectingConnection;
  }
}

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
