// Idempotency-Key for POST (the IETF httpapi draft's semantics): the first request with a key runs and
// its result (status, the headers a client needs, body) is kept for 24 h; a retry with the same key and
// the same request gets that result again, marked `Idempotent-Replayed: true`, and nothing runs twice.
// The same key with a different request is a client bug (422); a retry while the first is still
// running gets 409 with Retry-After. Keys are scoped to the caller (the verified user, else the client
// address), so two callers can't collide or read each other's results.
//
// Server errors (5xx) are not kept: the key is released and a retry runs again. The record lives in
// Redis, shared by every gateway replica; when Redis can't answer, a request with a key is refused with
// 503 rather than run without the guarantee its client asked for.
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { GatewayErrors } from './errors.ts';
import type { UpstreamResponse } from './proxy.ts';

const KEY = /^[\x21-\x7e]{1,255}$/; // visible ASCII
const KEPT_HEADERS = ['content-type', 'location', 'etag', 'x-consistency-token', 'cache-control'];

interface Done {
  state: 'done';
  fingerprint: string;
  statusCode: number;
  headers: Record<string, string>;
  body: string; // base64
}
type Entry = { state: 'running'; fingerprint: string } | Done;

export interface IdempotencyOptions {
  redis: Redis;
  prefix: string;
  /** How long a finished result is replayed. */
  ttlSeconds: number;
  /** How long a running request holds its key (a gateway that died releases it then). */
  lockSeconds: number;
}

export async function idempotent(
  request: FastifyRequest,
  reply: FastifyReply,
  run: () => Promise<UpstreamResponse>,
  opts: IdempotencyOptions,
): Promise<FastifyReply> {
  const given = request.headers['idempotency-key'];
  if (given === undefined) return send(reply, await run());
  if (typeof given !== 'string' || !KEY.test(given))
    throw new GatewayErrors.VALIDATION('Idempotency-Key must be 1–255 visible ASCII characters');

  const scope = request.subject ? `user:${request.subject}` : `ip:${request.ip}`;
  const key = `${opts.prefix}idem:${scope}:${createHash('sha256').update(given).digest('base64url')}`;
  const fingerprint = createHash('sha256')
    .update(`${request.method} ${request.url}\n`)
    .update((request.body as Buffer | undefined) ?? '')
    .digest('base64url');

  const claimed = await unavailableOnError(
    opts.redis.set(key, JSON.stringify({ state: 'running', fingerprint }), 'EX', opts.lockSeconds, 'NX'),
  );
  if (claimed !== 'OK') {
    const raw = await unavailableOnError(opts.redis.get(key));
    const entry = raw === null ? undefined : (JSON.parse(raw) as Entry);
    if (entry && entry.fingerprint !== fingerprint) throw new GatewayErrors.IDEMPOTENCY_KEY_REUSED();
    if (!entry || entry.state === 'running') {
      // Still running (or released a moment ago): the client should ask again shortly.
      reply.header('retry-after', '1');
      throw new GatewayErrors.IDEMPOTENCY_IN_FLIGHT();
    }
    return reply
      .code(entry.statusCode)
      .headers({ ...entry.headers, 'idempotent-replayed': 'true' })
      .send(Buffer.from(entry.body, 'base64'));
  }

  let response: UpstreamResponse;
  let body: Buffer;
  try {
    response = await run();
    body = Buffer.from(await response.body.arrayBuffer());
  } catch (err) {
    await opts.redis.del(key).catch(() => {}); // nothing kept: a retry runs again
    throw err;
  }
  if (response.statusCode >= 500) {
    await opts.redis.del(key).catch(() => {});
  } else {
    const headers: Record<string, string> = {};
    for (const name of KEPT_HEADERS) {
      const value = response.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const done: Done = {
      state: 'done',
      fingerprint,
      statusCode: response.statusCode,
      headers,
      body: body.toString('base64'),
    };
    // If this fails the key expires with its lock, and a retry after that runs again: at worst a
    // duplicate after lockSeconds, never a lost result for the caller who is waiting now.
    await opts.redis.set(key, JSON.stringify(done), 'EX', opts.ttlSeconds).catch(() => {});
  }
  return reply.code(response.statusCode).headers(response.headers).send(body);
}

function send(reply: FastifyReply, response: UpstreamResponse): FastifyReply {
  return reply.code(response.statusCode).headers(response.headers).send(response.body);
}

async function unavailableOnError<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch {
    throw new GatewayErrors.IDEMPOTENCY_UNAVAILABLE();
  }
}
