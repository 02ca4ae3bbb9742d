import { isLsn } from './lsn.ts';

// Task events (design §5): past-tense names, an id to de-duplicate on, when it happened, whose task,
// which version, and the WAL position a reader must have replayed to see the change.
export const TASK_EVENT_TYPES = ['task.created', 'task.updated', 'task.deleted'] as const;
export type TaskEventType = (typeof TASK_EVENT_TYPES)[number];

export interface TaskEvent {
  id: string;
  type: TaskEventType;
  occurredAt: string;
  ownerId: string;
  taskId: string;
  version: number;
  /**
   * The primary's WAL position when the event was published: at or past the write's commit, so a
   * replica that has replayed this far shows the change ("16/B374D848").
   */
  lsn: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Parse a message body; throws on anything that is not a well-formed task event (→ dead-letter). */
export function parseTaskEvent(body: Buffer): TaskEvent {
  const e = JSON.parse(body.toString('utf8')) as Partial<TaskEvent>;
  const ok =
    typeof e === 'object' &&
    e !== null &&
    typeof e.id === 'string' &&
    UUID.test(e.id) &&
    TASK_EVENT_TYPES.includes(e.type as TaskEventType) &&
    typeof e.occurredAt === 'string' &&
    Number.isFinite(Date.parse(e.occurredAt)) &&
    typeof e.ownerId === 'string' &&
    UUID.test(e.ownerId) &&
    typeof e.taskId === 'string' &&
    UUID.test(e.taskId) &&
    Number.isInteger(e.version) &&
    typeof e.lsn === 'string' &&
    isLsn(e.lsn);
  if (!ok) throw new Error('not a task event');
  return e as TaskEvent;
}
