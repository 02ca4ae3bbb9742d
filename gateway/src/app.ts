// Builds the gateway's Fastify app: the public API's one entry point behind nginx. It routes
// /v1/tasks* to the task service (after verifying the caller's access token) and /v1/auth*,
// /v1/users*, /.well-known/jwks.json to the users service, over pooled keep-alive connections to every
// replica of each.
import rateLimit from '@fastify/rate-limit';
import underPressure from '@fastify/under-pressure';
import { accessLog, httpMetrics, problemDetails, serviceOptions } from '@taskfleet/service';
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { Counter, Gauge } from 'prom-client';
import { TokenVerifier } from './auth.ts';
import type { Config } from './config.ts';
import { commaList } from './config.ts';
import { GatewayErrors } from './errors.ts';
import { IdempotencyKeys } from './idempotency.ts';
import { exchange, forward } from './proxy.ts';
import { redisWithLocalFallback } from './rate-limit.ts';
import { UpstreamGroup } from './upstreams.ts';

const REQUEST_ID = /^[\w.:-]{1,128}$/;

export interface Gateway {
  tasks: UpstreamGroup;
  users: UpstreamGroup;
  shuttingDown: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    gateway: Gateway;
  }
  interface FastifyRequest {
    /** The verified user of the access token, when the route requires one. */
    subject?: string;
  }
}

export async function buildGateway(
  config: Config,
  opts: { logger?: FastifyServerOptions['logger'] } = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    ...serviceOptions({ logger: opts.logger, bodyLimit: config.BODY_LIMIT }),
    // Keep the caller's request id when it is a sane one (nginx sets it), else make one.
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : crypto.randomUUID();
    },
    // Behind nginx only: the client address comes from its X-Forwarded-For, and from nobody else.
    trustProxy: commaList(config.TRUSTED_PROXIES),
  });
  await app.register(problemDetails, { prefix: 'GATEWAY', bodyLimit: config.BODY_LIMIT });
  await app.register(accessLog);
  await app.register(httpMetrics);
  const upstreamRequests = new Counter({
    name: 'gateway_upstream_requests_total',
    help: 'Requests to upstream services by outcome (ok, retried on another replica, failed)',
    labelNames: ['service', 'outcome'],
    registers: [app.metricsRegistry],
  });
  const onError = (err: Error) => app.log.warn({ err }, 'resolving upstreams failed');
  const group = (service: string, list: string) =>
    new UpstreamGroup({
      service,
      baseUrls: commaList(list),
      resolveIntervalMs: config.RESOLVE_INTERVAL_MS,
      connectTimeoutMs: config.CONNECT_TIMEOUT_MS,
      breaker: { failures: config.BREAKER_FAILURES, openMs: config.BREAKER_OPEN_MS },
      onError,
    });
  const gateway: Gateway = {
    tasks: group('tasks', config.TASKS_UPSTREAMS),
    users: group('users', config.USERS_UPSTREAMS),
    shuttingDown: false,
  };
  app.decorate('gateway', gateway);
  await Promise.all([gateway.tasks.start(), gateway.users.start()]);
  new Gauge({
    name: 'gateway_upstream_open_circuits',
    help: 'Replicas whose circuit breaker is open (skipped), by service',
    labelNames: ['service'],
    registers: [app.metricsRegistry],
    collect() {
      for (const g of [gateway.tasks, gateway.users])
        this.set({ service: g.service }, g.upstreams.filter((u) => u.state === 'open').length);
    },
  });
  app.addHook('onClose', async () => {
    await Promise.all([gateway.tasks.close(), gateway.users.close()]);
  });

  // Shed load before doing any work for a request the process can't serve in time anyway.
  if (config.SHED_EVENT_LOOP_DELAY_MS > 0) {
    await app.register(underPressure, {
      maxEventLoopDelay: config.SHED_EVENT_LOOP_DELAY_MS,
      sampleInterval: config.SHED_SAMPLE_MS,
      retryAfter: 1,
      customError: GatewayErrors.OVERLOADED,
    });
  }

  // Bodies are forwarded as they came (the services validate them); only their size is checked here.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const proxyOptions = {
    retries: config.RETRIES,
    timeoutMs: config.UPSTREAM_TIMEOUT_MS,
    onAttempt: (service: string, outcome: 'ok' | 'retried' | 'failed') =>
      upstreamRequests.inc({ service, outcome }),
  };
  const verifier = new TokenVerifier({
    users: gateway.users,
    issuer: config.AUTH_ISSUER,
    audience: config.AUTH_AUDIENCE,
    cacheSeconds: config.JWKS_CACHE_SECONDS,
  });

  async function authenticate(request: FastifyRequest): Promise<void> {
    const match = /^Bearer ([\w-]+\.[\w-]+\.[\w-]+)$/.exec(request.headers.authorization ?? '');
    if (!match) throw new GatewayErrors.UNAUTHORIZED('send a bearer access token');
    const subject = await verifier.subject(match[1]!);
    if (!subject) throw new GatewayErrors.UNAUTHORIZED('invalid or expired token');
    request.subject = subject;
  }

  const connectRedis = async (commandTimeout: number) => {
    const client = new Redis(config.REDIS_URL, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout,
      lazyConnect: true,
      // Commands issued in the same tick (many concurrent requests) leave in one write (performance.md).
      enableAutoPipelining: true,
    });
    client.on('error', () => {}); // reported through the fallback counter / 503s; reconnects by itself
    // Connected before the first request when Redis is there; without it, start anyway (local limits).
    await client.connect().catch(() => {});
    app.addHook('onClose', async () => {
      client.disconnect();
    });
    return client;
  };
  // Rate limits give up on Redis after 100 ms: they have a local fallback. Idempotency claims wait a
  // little longer (on a saturated host Redis answers can take over 100 ms, docs/performance.md), then
  // fall back to the services' own record of keys (ADR 0009).
  const redis = await connectRedis(100);
  const idempotencyRedis = await connectRedis(config.IDEMPOTENCY_REDIS_TIMEOUT_MS);
  const fallbacks = new Counter({
    name: 'gateway_rate_limit_fallbacks_total',
    help: 'Rate-limit decisions taken locally because Redis did not answer',
    registers: [app.metricsRegistry],
  });
  const rejected = new Counter({
    name: 'gateway_rate_limited_total',
    help: 'Requests refused with 429, by limit',
    labelNames: ['limit'],
    registers: [app.metricsRegistry],
  });
  // Rate limits run after authentication (preHandler), so a user's budget is keyed by the verified
  // subject — an unverified one would let anybody spend somebody else's.
  await app.register(rateLimit, {
    global: true,
    hook: 'preHandler',
    max: (request) => (request.subject ? config.RATE_LIMIT_USER_MAX : config.RATE_LIMIT_IP_MAX),
    timeWindow: config.RATE_LIMIT_WINDOW_MS,
    keyGenerator: (request) => (request.subject ? `user:${request.subject}` : `ip:${request.ip}`),
    store: redisWithLocalFallback(redis, `${config.REDIS_KEY_PREFIX}rl:`, () => fallbacks.inc()),
    enableDraftSpec: true, // RateLimit-Limit / -Remaining / -Reset, and Retry-After on 429
    errorResponseBuilder: (request, context) => {
      rejected.inc({ limit: request.url.startsWith('/v1/auth/') ? 'auth' : request.subject ? 'user' : 'ip' });
      return new GatewayErrors.RATE_LIMITED(context.after);
    },
  });
  const decisions = new Counter({
    name: 'gateway_idempotency_decisions_total',
    help: 'Requests with an Idempotency-Key by decision: claimed (ran), replayed, in_flight (409), key_reused (422), store_down_ran (Redis away, the service enforced the key), store_down_refused (503)',
    labelNames: ['decision'],
    registers: [app.metricsRegistry],
  });
  const idempotency = new IdempotencyKeys({
    redis: idempotencyRedis,
    prefix: config.REDIS_KEY_PREFIX,
    ttlSeconds: config.IDEMPOTENCY_TTL_SECONDS,
    leaseMs: config.IDEMPOTENCY_LEASE_MS,
    onDecision: (decision) => decisions.inc({ decision }),
    log: app.log,
  });
  new Gauge({
    name: 'gateway_idempotency_pending_writes',
    help: 'Idempotency releases and answers waiting for Redis to be reachable again',
    registers: [app.metricsRegistry],
    collect() {
      this.set(idempotency.pending);
    },
  });
  // `durableKeys`: the service records Idempotency-Keys with the effect they guard (in its database), so
  // a create with a key stays at most once when Redis is away. Only the task service does today.
  const to =
    (group: UpstreamGroup, { durableKeys }: { durableKeys: boolean }) =>
    (request: FastifyRequest, reply: FastifyReply) =>
      request.method === 'POST'
        ? idempotency.handle(request, reply, () => exchange(request, group, proxyOptions), durableKeys)
        : forward(request, reply, group, proxyOptions);
  const toTasks = to(gateway.tasks, { durableKeys: true });
  const toUsers = to(gateway.users, { durableKeys: false });
  const ALL = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'] as const;

  const authLimit = {
    rateLimit: {
      max: config.RATE_LIMIT_AUTH_MAX,
      timeWindow: config.RATE_LIMIT_AUTH_WINDOW_MS,
      keyGenerator: (request: FastifyRequest) => `auth:${request.ip}`,
    },
  };
  const noLimit = { rateLimit: false as const };
  app.route({ method: [...ALL], url: '/v1/tasks', onRequest: authenticate, handler: toTasks });
  app.route({ method: [...ALL], url: '/v1/tasks/*', onRequest: authenticate, handler: toTasks });
  app.route({ method: [...ALL], url: '/v1/auth/*', config: authLimit, handler: toUsers });
  app.route({ method: [...ALL], url: '/v1/users/*', handler: toUsers });
  app.get('/.well-known/jwks.json', { config: noLimit }, toUsers);

  app.get('/health/live', { logLevel: 'warn', config: noLimit }, async () => ({ status: 'ok' }));
  app.get('/health/ready', { logLevel: 'warn', config: noLimit }, async (_request, reply) => {
    const available = (g: UpstreamGroup) => g.upstreams.filter((u) => u.state !== 'open').length;
    const checks = { tasks: available(gateway.tasks), users: available(gateway.users) };
    const ready = !gateway.shuttingDown && checks.tasks > 0 && checks.users > 0;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
  });
  return app;
}
