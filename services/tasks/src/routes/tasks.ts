// The task API: HTTP in (headers, bodies, conditions), a call to the data path (app.tasks,
// task-store.ts), HTTP out (status, ETag, consistency token, caching headers). Handlers validate nothing
// by hand that a schema can validate, and never catch: errors go to the one error handler.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { isLsn, parseLsn } from '@taskfleet/events';
import {
  idempotencyKeyOf,
  keyDigest,
  ProblemSchema as Problem,
  REPLAYED_HEADER,
  requestFingerprint,
  traceContextOf,
} from '@taskfleet/service';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { TasksErrors } from '../errors.ts';
import type { Written } from '../plugins/database.ts';
import { ListQuery, Summary, Task, TaskCreate, TaskId, TaskList, TaskPatch } from '../schemas.ts';
import type { Caller } from '../task-store.ts';
import type { Conditional, EventContext, IdempotencyClaim } from '../tasks-repository.ts';

export const CONSISTENCY_HEADER = 'x-consistency-token';

declare module 'fastify' {
  interface FastifyRequest {
    /** A JSON body exactly as it arrived: what an Idempotency-Key's fingerprint covers. */
    rawBody?: Buffer;
  }
}

const etag = (task: { version: number }) => `"${task.version}"`;

/**
 * The caller: the verified owner, and the token of their last write when they echo it — so even a
 * replica chosen without Redis is safe for them.
 */
function callerOf(request: FastifyRequest): Caller {
  const raw = request.headers[CONSISTENCY_HEADER];
  if (raw !== undefined && (typeof raw !== 'string' || !isLsn(raw)))
    throw new TasksErrors.BAD_CONSISTENCY_TOKEN();
  return { owner: request.subject, token: raw === undefined ? null : parseLsn(raw) };
}

/** The version an If-Match names: a strong ETag `"N"`. Weak or other tags can never match. */
function ifMatchVersion(request: FastifyRequest, required: boolean): number | undefined {
  const header = request.headers['if-match'];
  if (header === undefined) {
    if (required) throw new TasksErrors.PRECONDITION_REQUIRED();
    return undefined;
  }
  const m = /^\s*"([1-9][0-9]{0,9})"\s*$/.exec(header);
  return m ? Number(m[1]) : -1; // -1 matches no version: 412
}

function unwrap<T>(result: Conditional<T>): T {
  if (result.ok) return result.value;
  if (result.reason === 'not_found') throw new TasksErrors.NOT_FOUND();
  throw new TasksErrors.PRECONDITION_FAILED(result.version);
}

/** The create's Idempotency-Key, if it has one, as the key's row stores it (ADR 0009). */
function idempotencyClaim(request: FastifyRequest): IdempotencyClaim | undefined {
  const key = idempotencyKeyOf(request.headers['idempotency-key']);
  if (key === undefined) return undefined;
  if (key === 'invalid')
    throw new TasksErrors.VALIDATION('Idempotency-Key must be 1–255 visible ASCII characters');
  return {
    key: keyDigest(key),
    fingerprint: requestFingerprint(request.method, request.url, request.rawBody),
  };
}

/** The write's event carries the request's trace (W3C trace context, when well-formed). */
// The write's event continues its trace: the relay's publish and every consumer join it (issue 13).
const eventContext = (request: FastifyRequest): EventContext => ({ traceparent: traceContextOf(request) });

/** After a write: the caller's consistency token; the answer is about this moment, never cached. */
function setWriteHeaders(reply: FastifyReply, result: Written<unknown>): void {
  if (result.token) reply.header(CONSISTENCY_HEADER, result.token);
  reply.header('cache-control', 'no-store');
}

const errors = { 400: Problem, 401: Problem, 404: Problem, 503: Problem };

const tasksRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate);

  // JSON parsed exactly as by Fastify's own parser, with the bytes kept for key fingerprints.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    request.rawBody = body as Buffer;
    parseJson(request, body as unknown as string, done); // secure-json-parse takes a Buffer as well
  });

  app.post(
    '/v1/tasks',
    {
      schema: {
        summary: 'Create a task (at most once per Idempotency-Key)',
        description:
          'With an `Idempotency-Key`, a repeated create returns the first answer (marked `Idempotent-Replayed: true`) instead of creating again; the same key with a different body is refused (422). Keys are kept 24 hours.',
        tags: ['tasks'],
        body: TaskCreate,
        response: { 201: Task, ...errors, 413: Problem, 415: Problem, 422: Problem },
      },
    },
    async (request, reply) => {
      const due = request.body.dueDate;
      if (due && !sensibleDate(due))
        throw new TasksErrors.VALIDATION('dueDate must be between 1900 and 9999');
      const result = await app.tasks.create(
        request.subject,
        request.body,
        eventContext(request),
        idempotencyClaim(request),
      );
      const created = result.result;
      if (created.outcome === 'key_reused') throw new TasksErrors.IDEMPOTENCY_KEY_REUSED();
      const { task } = created;
      if (created.outcome === 'replayed') reply.header(REPLAYED_HEADER, 'true');
      setWriteHeaders(reply, result);
      return reply.code(201).header('location', `/v1/tasks/${task.id}`).header('etag', etag(task)).send(task);
    },
  );

  app.get(
    '/v1/tasks',
    {
      schema: {
        summary: 'List tasks (keyset pages)',
        tags: ['tasks'],
        querystring: ListQuery,
        response: { 200: TaskList, ...errors },
      },
    },
    async (request, reply) => {
      const { cursor, limit, sort = 'created', ...filters } = request.query;
      for (const d of [filters.dueAfter, filters.dueBefore]) {
        if (d && !sensibleDate(d)) throw new TasksErrors.VALIDATION('dates must be between 1900 and 9999');
      }
      const position = cursor === undefined ? undefined : decodeCursor(cursor, sort);
      const pageSize = limit === undefined ? 20 : Number(limit);
      const page = await app.tasks.list(callerOf(request), { filters, sort, position, pageSize, cursor });
      reply.header('cache-control', 'private, no-cache');
      return { items: page.items, nextCursor: page.next && encodeCursor(page.next) };
    },
  );

  app.get(
    '/v1/tasks/summary',
    {
      schema: {
        summary: 'Counts by status and priority',
        tags: ['tasks'],
        response: { 200: Summary, ...errors },
      },
    },
    async (request, reply) => {
      const summary = await app.tasks.summary(callerOf(request));
      reply.header('cache-control', 'private, no-cache');
      return summary;
    },
  );

  app.get(
    '/v1/tasks/:id',
    {
      schema: {
        summary: 'Read a task',
        tags: ['tasks'],
        params: TaskId,
        response: { 200: Task, 304: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      const task = await app.tasks.get(callerOf(request), request.params.id);
      // Another owner's task is exactly as absent as a task that never existed.
      if (!task) throw new TasksErrors.NOT_FOUND();
      reply.header('etag', etag(task)).header('cache-control', 'private, no-cache');
      if (request.headers['if-none-match'] === etag(task)) return reply.code(304).send(null);
      return task;
    },
  );

  app.patch(
    '/v1/tasks/:id',
    {
      schema: {
        summary: 'Change a task (If-Match required)',
        tags: ['tasks'],
        params: TaskId,
        body: TaskPatch,
        response: { 200: Task, ...errors, 412: Problem, 413: Problem, 415: Problem, 428: Problem },
      },
    },
    async (request, reply) => {
      const version = ifMatchVersion(request, true)!;
      const due = request.body.dueDate;
      if (due && !sensibleDate(due))
        throw new TasksErrors.VALIDATION('dueDate must be between 1900 and 9999');
      const result = await app.tasks.update(
        request.subject,
        request.params.id,
        version,
        request.body,
        eventContext(request),
      );
      const task = unwrap(result.result);
      setWriteHeaders(reply, result);
      return reply.header('etag', etag(task)).send(task);
    },
  );

  app.delete(
    '/v1/tasks/:id',
    {
      schema: {
        summary: 'Delete a task (If-Match optional)',
        tags: ['tasks'],
        params: TaskId,
        response: { 204: Type.Null(), ...errors, 412: Problem },
      },
    },
    async (request, reply) => {
      const version = ifMatchVersion(request, false);
      const result = await app.tasks.remove(
        request.subject,
        request.params.id,
        version,
        eventContext(request),
      );
      unwrap(result.result);
      setWriteHeaders(reply, result);
      return reply.code(204).send(null);
    },
  );
};

/** RFC 3339 allows years PostgreSQL and clients handle badly (0000, 9999+); keep to a sane range. */
function sensibleDate(text: string): boolean {
  const year = new Date(text).getUTCFullYear();
  return year >= 1900 && year <= 9999;
}

export default tasksRoutes;
