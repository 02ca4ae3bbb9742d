// The task API's schemas: they validate requests, shape responses and generate the OpenAPI document,
// so the three can never disagree.

import type { Static } from 'typebox';
import { Type } from 'typebox';

export const STATUSES = ['todo', 'in_progress', 'done'] as const;
export const PRIORITIES = ['low', 'medium', 'high', 'urgent'] as const;

export const Status = Type.Enum([...STATUSES], { description: 'Workflow state' });
export const Priority = Type.Enum([...PRIORITIES]);

// Control characters (and NUL, which PostgreSQL text cannot hold) never belong in a title; a title is
// more than whitespace.
const Title = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: '^[^\\u0000-\\u001f\\u007f]*[^\\s\\u0000-\\u001f\\u007f][^\\u0000-\\u001f\\u007f]*$',
});
const Description = Type.String({ maxLength: 10_000, pattern: '^[^\\u0000]*$' });
const Tag = Type.String({
  minLength: 1,
  maxLength: 32,
  pattern: '^[\\p{L}\\p{N}][\\p{L}\\p{N}_.:/-]*$',
  description: 'letters, digits and _ . : / -',
});
const Tags = Type.Array(Tag, { maxItems: 20, uniqueItems: true });
const DueDate = Type.String({ format: 'date-time', description: 'RFC 3339 date-time with an offset' });

export const TaskCreate = Type.Object(
  {
    title: Title,
    description: Type.Optional(Description),
    status: Type.Optional(Status),
    priority: Type.Optional(Priority),
    dueDate: Type.Optional(Type.Union([DueDate, Type.Null()])),
    tags: Type.Optional(Tags),
  },
  { additionalProperties: false },
);
export type TaskCreate = Static<typeof TaskCreate>;

export const TaskPatch = Type.Object(
  {
    title: Type.Optional(Title),
    description: Type.Optional(Description),
    status: Type.Optional(Status),
    priority: Type.Optional(Priority),
    dueDate: Type.Optional(Type.Union([DueDate, Type.Null()])),
    tags: Type.Optional(Tags),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type TaskPatch = Static<typeof TaskPatch>;

export const Task = Type.Object({
  id: Type.String({ format: 'uuid' }),
  title: Type.String(),
  description: Type.String(),
  status: Status,
  priority: Priority,
  dueDate: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  tags: Type.Array(Type.String()),
  version: Type.Integer({ minimum: 1 }),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});
export type Task = Static<typeof Task>;

export const TaskId = Type.Object({ id: Type.String({ format: 'uuid' }) }, { additionalProperties: false });

export const ListQuery = Type.Object(
  {
    status: Type.Optional(Status),
    priority: Type.Optional(Priority),
    tag: Type.Optional(Tag),
    dueBefore: Type.Optional(DueDate),
    dueAfter: Type.Optional(DueDate),
    q: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        pattern: '^[^\\u0000]*$',
        description: 'full-text search in title and description',
      }),
    ),
    sort: Type.Optional(
      Type.Enum(['created', 'due'], {
        description: 'created: newest first (default); due: soonest first, undated last',
      }),
    ),
    limit: Type.Optional(Type.String({ pattern: '^(100|[1-9][0-9]?)$', description: '1–100, default 20' })),
    cursor: Type.Optional(Type.String({ maxLength: 512, description: 'nextCursor of the previous page' })),
  },
  { additionalProperties: false },
);
export type ListQuery = Static<typeof ListQuery>;

export const TaskList = Type.Object({
  items: Type.Array(Task),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

const PriorityCounts = Type.Object(Object.fromEntries(PRIORITIES.map((p) => [p, Type.Integer()])));
export const Summary = Type.Object({
  total: Type.Integer(),
  counts: Type.Object(Object.fromEntries(STATUSES.map((s) => [s, PriorityCounts])), {
    description: 'status → priority → count',
  }),
});
export type Summary = Static<typeof Summary>;
