// Idempotency-Key for POST (the IETF httpapi draft's semantics; protocol and faults in docs/gateway.md,
// decisions in ADR 0009). The first request with a key runs; its answer (status, the headers a client
// needs, body) is kept for 24 h and a retry with the same key and request gets it again, marked
// `Idempotent-Replayed: true`. The same key with a different request is a client bug (422); a retry
// while the first still runs gets 409 with Retry-After. Keys are scoped to the caller (the verified
// user, else the client address), so two callers can't collide or read each other's answers.
//
// Redis is the fast path, shared by every gateway replica, and never the guarantee: a service whose
// creates record their key in its database ("durable" routes: tasks) runs a key at most once whatever
// Redis or a gateway does. Here Redis only has to never strand a key:
// - a claim is a lease (a few seconds, renewed while the request runs) tagged with a token of its own,
//   so a dead or paused gateway's claim ends by itself, and nobody else's release or answer touches it;
// - a claim whose command failed or timed out is released by its token at once, on the same connection,
//   so Redis runs the release right after the claim even if it runs both late (a frozen Redis);
//   a release or answer that could not be sent at all is sent again when the connection is back.
// When Redis can't answer, a durable route runs anyway (its database decides); any other refuses: 503.
import { randomUUID } from 'node:crypto';
import { idempotencyKeyOf, keyDigest, REPLAYED_HEADER, requestFingerprint } from '@taskfleet/service';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { ClientContext, Redis, Result } from 'ioredis';
import { GatewayErrors } from './errors.ts';
import type { UpstreamResponse } from './proxy.ts';

const KEPT_HEADERS = ['content-type', 'location', 'etag', 'x-consistency-token', 'cache-control'];
/** Answers about the moment rather than the request: a retry should run again, not see them again. */
const NOT_KEPT = new Set([401, 408, 409, 425, 429]);

interface Running {
  state: 'running';
  token: string;
  fingerprint: string;
}
interface Done {
  state: 'done';
  fingerprint: string;
  statusCode: number;
  headers: Record<string, string>;
  body: string; // base64
}
type Entry = Running | Done;

/** Every decision, for the metrics: ran (claimed), answered from Redis, refused, or ran without Redis. */
export type Decision =
  | 'claimed'
  | 'replayed'
  | 'in_flight'
  | 'key_reused'
  | 'store_down_ran'
  | 'store_down_refused';

// Compare-and-set on the exact running value: only the claim's own holder may renew, release or
// answer it. A claim that is gone (lease over) may still be answered: the answer is the real one.
const SCRIPTS = {
  idemClaim: `local current = redis.call('GET', KEYS[1])
    if current then return current end
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return false`,
  idemRenew: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
    return 0`,
  idemRelease: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
    return 0`,
  idemAnswer: `local current = redis.call('GET', KEYS[1])
    if current and current ~= ARGV[1] then return 0 end
    redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
    return 1`,
} as const;

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext> {
    idemClaim(key: string, running: string, leaseMs: number): Result<string | null, Context>;
    idemRenew(key: string, running: string, leaseMs: number): Result<number, Context>;
    idemRelease(key: string, running: string): Result<number, Context>;
    idemAnswer(key: string, running: string, done: string, ttlSeconds: number): Result<number, Context>;
  }
}

export interface IdempotencyOptions {
  redis: Redis;
  prefix: string;
  /** How long a finished answer is replayed. */
  ttlSeconds: number;
  /** How long a claim lasts unless renewed; renewed every third of it while its request runs. */
  leaseMs: number;
  /** Writes that could not be sent and wait for the connection (bounded: the oldest go first). */
  maxPending?: number;
  onDecision?: (decision: Decision) => void;
  log: FastifyBaseLogger;
}

type PendingWrite = { running: string; done?: string };

export class IdempotencyKeys {
  readonly #opts: Required<Omit<IdempotencyOptions, 'onDecision'>> & Pick<IdempotencyOptions, 'onDecision'>;
  /** Releases and answers to send again once Redis is reachable, by key. */
  readonly #pending = new Map<string, PendingWrite>();

  constructor(opts: IdempotencyOptions) {
    this.#opts = { maxPending: 10_000, ...opts };
    for (const [name, lua] of Object.entries(SCRIPTS))
      opts.redis.defineCommand(name, { numberOfKeys: 1, lua });
    opts.redis.on('ready', () => void this.#flushPending());
  }

  /** Writes waiting for Redis (a gauge). */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Run `run` at most once per key. `durable`: the upstream records keys with their effect, so the
   * request may run without a claim when Redis can't answer.
   */
  async handle(
    request: FastifyRequest,
    reply: FastifyReply,
    run: () => Promise<UpstreamResponse>,
    durable: boolean,
  ): Promise<FastifyReply> {
    const given = idempotencyKeyOf(request.headers['idempotency-key']);
    if (given === undefined) return send(reply, await run());
    if (given === 'invalid')
      throw new GatewayErrors.VALIDATION('Idempotency-Key must be 1–255 visible ASCII characters');

    const { redis, prefix, leaseMs } = this.#opts;
    const scope = request.subject ? `user:${request.subject}` : `ip:${request.ip}`;
    const key = `${prefix}idem:${scope}:${keyDigest(given).toString('base64url')}`;
    const fingerprint = requestFingerprint(
      request.method,
      request.url,
      request.body as Buffer | undefined,
    ).toString('base64url');
    const running = JSON.stringify({ state: 'running', token: randomUUID(), fingerprint } satisfies Running);

    let current: string | null;
    try {
      current = await redis.idemClaim(key, running, leaseMs);
    } catch (err) {
      // Timed out or never sent: the claim may still run when Redis wakes. Its release is queued right
      // behind it on the same connection, so it never outlives this moment for long.
      this.#release(key, running);
      if (!durable) {
        this.#decided('store_down_refused');
        throw new GatewayErrors.IDEMPOTENCY_UNAVAILABLE();
      }
      request.log.warn({ err }, 'idempotency store unavailable; the service enforces the key');
      this.#decided('store_down_ran');
      return this.#runClaimed(reply, { key, running, fingerprint }, run, { renew: false });
    }
    if (current === null) {
      this.#decided('claimed');
      return this.#runClaimed(reply, { key, running, fingerprint }, run, { renew: true });
    }
    const entry = JSON.parse(current) as Entry;
    if (entry.fingerprint !== fingerprint) {
      this.#decided('key_reused');
      throw new GatewayErrors.IDEMPOTENCY_KEY_REUSED();
    }
    if (entry.state === 'running') {
      this.#decided('in_flight');
      reply.header('retry-after', '1');
      throw new GatewayErrors.IDEMPOTENCY_IN_FLIGHT();
    }
    this.#decided('replayed');
    return reply
      .code(entry.statusCode)
      .headers({ ...entry.headers, [REPLAYED_HEADER]: 'true' })
      .send(Buffer.from(entry.body, 'base64'));
  }

  async #runClaimed(
    reply: FastifyReply,
    claim: { key: string; running: string; fingerprint: string },
    run: () => Promise<UpstreamResponse>,
    opts: { renew: boolean },
  ): Promise<FastifyReply> {
    const { redis, leaseMs, ttlSeconds } = this.#opts;
    const { key, running, fingerprint } = claim;
    // Renewals are best effort: a lost lease costs a 409 less for a racing retry, which the service's
    // own record of the key then turns into a replay.
    const renewal = opts.renew
      ? setInterval(() => redis.idemRenew(key, running, leaseMs).catch(() => {}), Math.max(1, leaseMs / 3))
      : undefined;
    let response: UpstreamResponse;
    let body: Buffer;
    try {
      response = await run();
      body = Buffer.from(await response.body.arrayBuffer());
    } catch (err) {
      this.#release(key, running); // nothing to keep: a retry runs again
      throw err;
    } finally {
      clearInterval(renewal);
    }
    if (!keep(response.statusCode, body)) {
      this.#release(key, running);
    } else {
      const headers: Record<string, string> = {};
      for (const name of KEPT_HEADERS) {
        const value = response.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
      const done = JSON.stringify({
        state: 'done',
        fingerprint,
        statusCode: response.statusCode,
        headers,
        body: body.toString('base64'),
      } satisfies Done);
      // Not awaited: the caller's answer never waits on Redis.
      redis.idemAnswer(key, running, done, ttlSeconds).catch(() => this.#later(key, { running, done }));
    }
    return reply.code(response.statusCode).headers(response.headers).send(body);
  }

  #release(key: string, running: string): void {
    this.#opts.redis.idemRelease(key, running).catch(() => this.#later(key, { running }));
  }

  /** Keep a write for when the connection is back; a newer one for the same key replaces it. */
  #later(key: string, write: PendingWrite): void {
    this.#pending.delete(key);
    this.#pending.set(key, write);
    if (this.#pending.size > this.#opts.maxPending) this.#pending.delete(this.#pending.keys().next().value!);
  }

  async #flushPending(): Promise<void> {
    const { redis, ttlSeconds, log } = this.#opts;
    const writes = [...this.#pending];
    this.#pending.clear();
    if (writes.length)
      log.info({ count: writes.length }, 'sending idempotency writes held while Redis was away');
    await Promise.all(
      writes.map(([key, w]) =>
        (w.done
          ? redis.idemAnswer(key, w.running, w.done, ttlSeconds)
          : redis.idemRelease(key, w.running)
        ).catch(() => this.#later(key, w)),
      ),
    );
  }

  #decided(decision: Decision): void {
    this.#opts.onDecision?.(decision);
  }
}

/**
 * Whether an answer is the key's answer. Not: server errors (the key is released and a retry runs
 * again), answers about the moment, and a service's own "key reused" (about another request).
 */
function keep(status: number, body: Buffer): boolean {
  if (status >= 500 || NOT_KEPT.has(status)) return false;
  if (status !== 422) return true;
  try {
    return !String((JSON.parse(body.toString('utf8')) as { code?: unknown }).code).endsWith(
      '_ERR_IDEMPOTENCY_KEY_REUSED',
    );
  } catch {
    return true;
  }
}

function send(reply: FastifyReply, response: UpstreamResponse): FastifyReply {
  return reply.code(response.statusCode).headers(response.headers).send(response.body);
}
