// Where task events travel. One topic exchange; every tasks replica binds an exclusive, server-named
// queue of its own (its L1 cache invalidations); durable consumers (worker) bind quorum queues with
// bounded redelivery and a dead-letter exchange.
import type { Channel } from 'amqplib';

export const EVENTS_EXCHANGE = 'taskfleet.events';
export const DEAD_LETTER_EXCHANGE = 'taskfleet.dead-letter';
export const DEAD_LETTER_QUEUE = 'taskfleet.dead-letters';
/** A message redelivered this many times goes to the dead-letter queue instead of looping. */
export const DELIVERY_LIMIT = 5;

export async function assertEventsExchange(ch: Channel): Promise<void> {
  await ch.assertExchange(EVENTS_EXCHANGE, 'topic', { durable: true });
}

/** A durable, replicated consumer queue bound to `patterns`, dead-lettering poison messages. */
export async function assertDurableQueue(
  ch: Channel,
  queue: string,
  patterns: readonly string[],
): Promise<void> {
  await assertEventsExchange(ch);
  await ch.assertExchange(DEAD_LETTER_EXCHANGE, 'fanout', { durable: true });
  await ch.assertQueue(DEAD_LETTER_QUEUE, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await ch.bindQueue(DEAD_LETTER_QUEUE, DEAD_LETTER_EXCHANGE, '');
  await ch.assertQueue(queue, {
    durable: true,
    arguments: {
      'x-queue-type': 'quorum',
      'x-delivery-limit': DELIVERY_LIMIT,
      'x-dead-letter-exchange': DEAD_LETTER_EXCHANGE,
    },
  });
  for (const pattern of patterns) await ch.bindQueue(queue, EVENTS_EXCHANGE, pattern);
}
