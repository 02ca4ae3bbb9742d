// The durable cache invalidator: a quorum queue on the events exchange that deletes the shared (Redis)
// cache entries of every changed task — again. Writers delete them right after their commit; this
// makes the cache follow the commit log even when a writer died between its commit and its delete,
// or Redis was away at that moment. Manual acks. Redis away is not the message's fault: the delete is
// retried in place with back-off until Redis answers (prefetch bounds how many wait), so an outage
// longer than a few redeliveries can't push good events to the dead-letter queue while stale entries
// stay in Redis. A message that can never be handled is dead-lettered at once; the queue's delivery
// limit catches one that keeps crashing its consumer.

import type { TaskEvent } from '@taskfleet/events';
import { assertDurableQueue, parseLsn, parseTaskEvent } from '@taskfleet/events';
import { cacheKeys, invalidateTask } from '@taskfleet/tasks/cache-layout';
import type { ChannelModel, ConsumeMessage } from 'amqplib';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';

export interface InvalidatorOptions {
  queue: string;
  redis: Redis;
  keyPrefix: string;
  floorTtlSeconds: number;
  onHandled: (outcome: 'ok' | 'retry' | 'dead_letter', event?: TaskEvent) => void;
  /** A message settled with the broker: acked (handled) or dead-lettered (nacked, never requeued). */
  onSettled?: (outcome: 'ack' | 'dead_letter') => void;
  /** How many events wait for Redis changed by `delta` (+1 at a first failure, -1 when done). */
  onWaiting?: (delta: 1 | -1) => void;
  /** Back-off between attempts while Redis is unreachable. */
  retryMinMs?: number;
  retryMaxMs?: number;
}

export async function consumeInvalidations(
  connection: ChannelModel,
  opts: InvalidatorOptions,
): Promise<void> {
  const ch = await connection.createChannel();
  let open = true;
  ch.on('close', () => {
    open = false; // unacked messages go back to the queue with the channel; stop retrying them here
  });
  await ch.prefetch(64);
  await assertDurableQueue(ch, opts.queue, ['task.*']);
  const keys = cacheKeys(opts.keyPrefix);
  const minMs = opts.retryMinMs ?? 50;
  const maxMs = opts.retryMaxMs ?? 2_000;

  async function handle(msg: ConsumeMessage, event: TaskEvent): Promise<void> {
    let waiting = false;
    try {
      for (let attempt = 0; open; attempt++) {
        try {
          await invalidateTask(
            opts.redis,
            keys,
            event.ownerId,
            event.taskId,
            parseLsn(event.lsn),
            opts.floorTtlSeconds,
          );
          if (open) {
            ch.ack(msg);
            opts.onSettled?.('ack');
          }
          opts.onHandled('ok', event);
          return;
        } catch {
          opts.onHandled('retry', event);
          if (!waiting) opts.onWaiting?.(+1);
          waiting = true;
          await sleep(Math.min(maxMs, minMs * 2 ** attempt));
        }
      }
    } finally {
      if (waiting) opts.onWaiting?.(-1);
    }
  }

  await ch.consume(
    opts.queue,
    (msg) => {
      if (!msg) return;
      let event: TaskEvent;
      try {
        event = parseTaskEvent(msg.content);
      } catch {
        ch.nack(msg, false, false); // poison: to the dead-letter queue, never retried
        opts.onSettled?.('dead_letter');
        opts.onHandled('dead_letter');
        return;
      }
      void handle(msg, event);
    },
    { noAck: false },
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The job: consuming from the first connection on, again on every reconnection. */
export default fp<{ config: Config }>(
  async (app, { config }) => {
    const { invalidations, invalidationsWaiting, amqpConsumed } = app.workerMetrics;
    // Both series from the start: the first dead letter is an increase Prometheus sees.
    for (const outcome of ['ack', 'dead_letter'])
      amqpConsumed.inc({ queue: config.INVALIDATOR_QUEUE, outcome }, 0);
    app.amqp.onConnect((connection) =>
      consumeInvalidations(connection, {
        queue: config.INVALIDATOR_QUEUE,
        redis: app.redis,
        keyPrefix: config.REDIS_KEY_PREFIX,
        floorTtlSeconds: 300,
        onHandled: (outcome) => invalidations.inc({ outcome }),
        onSettled: (outcome) => amqpConsumed.inc({ queue: config.INVALIDATOR_QUEUE, outcome }),
        onWaiting: (delta) => invalidationsWaiting.inc(delta),
      }),
    );
  },
  { name: 'invalidator', dependencies: ['amqp', 'redis', 'metrics'] },
);
