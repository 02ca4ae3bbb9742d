// The durable cache invalidator: a quorum queue on the events exchange that deletes the shared (Redis)
// cache entries of every changed task — again. Writers delete them right after their commit; this
// makes the cache follow the commit log even when a writer died between its commit and its delete,
// or Redis was away at that moment. Manual acks; a message that can't be handled now is requeued
// (bounded by the queue's delivery limit), one that can never be handled is dead-lettered.

import type { TaskEvent } from '@taskfleet/events';
import { assertDurableQueue, cacheKeys, invalidateTask, parseTaskEvent } from '@taskfleet/events';
import type { ChannelModel } from 'amqplib';
import type { Redis } from 'ioredis';

export interface InvalidatorOptions {
  queue: string;
  redis: Redis;
  keyPrefix: string;
  floorTtlSeconds: number;
  onHandled: (outcome: 'ok' | 'retry' | 'dead_letter', event?: TaskEvent) => void;
}

const parseLsn = (text: string) => {
  const [hi, lo] = text.split('/');
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
};

export async function consumeInvalidations(
  connection: ChannelModel,
  opts: InvalidatorOptions,
): Promise<void> {
  const ch = await connection.createChannel();
  await ch.prefetch(64);
  await assertDurableQueue(ch, opts.queue, ['task.*']);
  const keys = cacheKeys(opts.keyPrefix);
  await ch.consume(
    opts.queue,
    (msg) => {
      if (!msg) return;
      let event: TaskEvent;
      try {
        event = parseTaskEvent(msg.content);
      } catch {
        ch.nack(msg, false, false); // poison: to the dead-letter queue, never retried
        opts.onHandled('dead_letter');
        return;
      }
      invalidateTask(
        opts.redis,
        keys,
        event.ownerId,
        event.taskId,
        parseLsn(event.lsn),
        opts.floorTtlSeconds,
      ).then(
        () => {
          ch.ack(msg);
          opts.onHandled('ok', event);
        },
        () => {
          ch.nack(msg, false, true); // Redis away: try again (the delivery limit bounds it)
          opts.onHandled('retry', event);
        },
      );
    },
    { noAck: false },
  );
}
