export type { ReconnectingOptions } from './connection.ts';
export { ReconnectingConnection } from './connection.ts';
export type { TaskEvent, TaskEventType } from './events.ts';
export { parseTaskEvent, TASK_EVENT_TYPES } from './events.ts';
export { formatLsn, isLsn, lsnHex, maxLsn, parseLsn } from './lsn.ts';
export {
  assertDurableQueue,
  assertEventsExchange,
  DEAD_LETTER_EXCHANGE,
  DEAD_LETTER_QUEUE,
  DELIVERY_LIMIT,
  EVENTS_EXCHANGE,
} from './topology.ts';
