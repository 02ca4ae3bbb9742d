// The task API. Handlers validate nothing by hand that a schema can validate, and never catch:
// errors go to the one error handler (problemDetails, @taskfleet/service).

import { createHash } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { isLsn, parseLsn } from '@taskfleet/events';
import { idempotencyKeyOf, keyDigest, REPLAYED_HEADER, requestFingerprint } from '@taskfleet/service';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { Kind } from '../cache/task-cache.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { TasksErrors } from '../errors.ts';
import type { Queryable } from '../plugins/database.ts';
import { ListQuery, Problem, Summary, Task, TaskCreate, TaskId, TaskList, TaskPatch } from '../schemas.ts';
import type { Conditional, EventContext, IdempotencyClaim } from '../tasks-repository.ts';
import { createTask, deleteTask, getTask, listTasks, summarize, updateTask } from '../tasks-repository.ts';

export const CONSISTENCY_HEADER = 'x-consistency-token';

declare module 'fastify' {
  interface FastifyRequest {
    /** A JSON body exactly as it arrived: what an Idempotency-Key's fingerprint covers. */
    rawBody?: Buffer;
  }
}

const etag = (task: { version: number }) => `"${task.version}"`;

/** A client may echo the token of its last write so even a replica chosen without Redis is safe. */
function clientToken(request: FastifyRequest): bigint | null {
  const raw = request.headers[CONSISTENCY_HEADER];
  if (raw === undefined) return null;
  if (typeof raw !== 'string' || !isLsn(raw)) throw new TasksErrors.BAD_CONSISTENCY_TOKEN();
  return parseLsn(raw);
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

/** W3C trace context of the request, carried by the write's event (only if well-formed). */
function eventContext(request: FastifyRequest): EventContext {
  const tp = request.headers.traceparent;
  return {
    traceparent:
      typeof tp === 'string' && /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(tp)
        ? tp
        : undefined,
  };
}

/** A stable key for one list request: same filters, sort, position and size → same key. */
function listKey(query: Record<string, unknown>): string {
  const canonical = JSON.stringify(
    Object.keys(query)
      .sort()
      .map((k) => [k, query[k] ?? null]),
  );
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 22);
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

  /**
   * A read through the caches — or straight to the database when the caller's last write is unknown
   * (token store down), since no cached entry can then be proven fresh enough for them.
   */
  async function cachedRead<T>(
    request: FastifyRequest,
    kind: Kind,
    key: string | undefined,
    load: (db: Queryable) => Promise<T>,
  ): Promise<T> {
    const minLsn = await app.db.minLsnFor(request.owner, clientToken(request));
    if (minLsn === undefined || key === undefined) return (await app.db.readAt(minLsn, load)).value;
    return app.cache.get(kind, key, minLsn, (floor) => app.db.readAt(floor, load));
  }

  /**
   * After a commit: the caller's consistency token, and invalidation of every cached copy — unless the
   * write changed nothing (a replayed create).
   */
  async function afterWrite(
    request: FastifyRequest,
    reply: FastifyReply,
    taskId: string,
    written: { token: string | null; lsn: bigint | null },
    changed = true,
  ) {
    if (written.token) reply.header(CONSISTENCY_HEADER, written.token);
    reply.header('cache-control', 'no-store');
    if (changed) await app.cache.afterWrite(request.owner, taskId, written.lsn);
  }

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
      const claim = idempotencyClaim(request);
      const written = await app.db.write(request.owner, (db) =>
        createTask(db, request.owner, request.body, eventContext(request), claim),
      );
      const created = written.result;
      if (created.outcome === 'key_reused') throw new TasksErrors.IDEMPOTENCY_KEY_REUSED();
      const { task } = created;
      const replayed = created.outcome === 'replayed';
      if (replayed) {
        app.metrics.idempotentReplays.inc();
        reply.header(REPLAYED_HEADER, 'true');
      }
      await afterWrite(request, reply, task.id, written, !replayed);
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
      const generation = await app.cache.generation(request.owner);
      const key =
        generation === undefined
          ? undefined
          : app.cache.keys.list(request.owner, generation, listKey({ ...filters, sort, cursor, pageSize }));
      const page = await cachedRead(request, 'list', key, (db) =>
        listTasks(db, request.owner, filters, sort, position, pageSize),
      );
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
      reply.header('cache-control', 'private, no-cache');
      const generation = await app.cache.generation(request.owner);
      const key = generation === undefined ? undefined : app.cache.keys.summary(request.owner, generation);
      return cachedRead(request, 'summary', key, (db) => summarize(db, request.owner));
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
      const key = app.cache.keys.task(request.owner, request.params.id);
      // A missing task is cached too (as null): probing ids costs the database nothing.
      const task = await cachedRead(
        request,
        'task',
        key,
        async (db) => (await getTask(db, request.owner, request.params.id)) ?? null,
      );
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
      const written = await app.db.write(request.owner, (db) =>
        updateTask(db, request.owner, request.params.id, version, request.body, eventContext(request)),
      );
      const task = unwrap(written.result);
      await afterWrite(request, reply, task.id, written);
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
      const written = await app.db.write(request.owner, (db) =>
        deleteTask(db, request.owner, request.params.id, version, eventContext(request)),
      );
      unwrap(written.result);
      await afterWrite(request, reply, request.params.id, written);
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
