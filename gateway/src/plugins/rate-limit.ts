// Rate limits (@fastify/rate-limit) shared by every gateway replica through Redis, with a local
// fallback (rate-limit-store.ts). They run after authentication (preHandler), so a user's budget is
// keyed by the verified subject — an unverified one would let anybody spend somebody else's. Routes
// registered after this plugin are limited; a route opts out with `config: { rateLimit: false }`.
import rateLimit from '@fastify/rate-limit';
import { activeSpan, redisClient } from '@taskfleet/service';
import fp from 'fastify-plugin';
import { Counter } from 'prom-client';
import type { Config } from '../config.ts';
import { GatewayErrors } from '../errors.ts';
import { redisWithLocalFallback } from '../rate-limit-store.ts';

const RULES = ['user', 'ip', 'auth'] as const;
type Rule = (typeof RULES)[number];
/** The rule from its key's prefix: `user:<subject>`, `ip:<address>`, `auth:<address>` (routes/proxy.ts). */
const ruleOf = (key: string): Rule =>
  key.startsWith('user:') ? 'user' : key.startsWith('ip:') ? 'ip' : 'auth';

export default fp<{ config: Config }>(
  async (app, { config }) => {
    // Rate limits give up on Redis after 100 ms: they have a local fallback.
    const redis = await redisClient(app, config.REDIS_URL, {
      commandTimeoutMs: 100,
      maxRetriesPerRequest: 0,
    });
    const registers = [app.metricsRegistry];
    const fallbacks = new Counter({
      name: 'gateway_rate_limit_fallbacks_total',
      help: 'Rate-limit decisions taken locally because Redis did not answer',
      registers,
    });
    const rejected = new Counter({
      name: 'gateway_rate_limited_total',
      help: 'Requests refused with 429, by limit',
      labelNames: ['limit'],
      registers,
    });
    const decisions = new Counter({
      name: 'gateway_rate_limit_decisions_total',
      help:
        'Rate-limit decisions by the rule that applied (user: the subject the gateway verified, ' +
        '/v1/tasks*; ip: the client address, routes it verifies no token on; auth: the per-address ' +
        'budget of /v1/auth/*) and the decision (allowed | limited)',
      labelNames: ['rule', 'decision'],
      registers,
    });
    // Children made once: the hot path increments without building label objects. Every series starts
    // at 0, so the first 429 of a rule is an increase Prometheus sees.
    for (const rule of RULES)
      for (const decision of ['allowed', 'limited']) decisions.inc({ rule, decision }, 0);
    const decided = Object.fromEntries(
      RULES.map((rule) => [
        rule,
        { allowed: decisions.labels(rule, 'allowed'), limited: decisions.labels(rule, 'limited') },
      ]),
    ) as Record<Rule, { allowed: Counter.Internal; limited: Counter.Internal }>;
    const decide = (rule: Rule, decision: 'allowed' | 'limited') => {
      decided[rule][decision].inc();
      // In a trace, on the request's span: which budget it was counted against, and what it said.
      activeSpan()?.setAttributes({ 'rate_limit.rule': rule, 'rate_limit.decision': decision });
    };
    await app.register(rateLimit, {
      global: true,
      hook: 'preHandler',
      max: (request) => (request.subject ? config.RATE_LIMIT_USER_MAX : config.RATE_LIMIT_IP_MAX),
      timeWindow: config.RATE_LIMIT_WINDOW_MS,
      keyGenerator: (request) => (request.subject ? `user:${request.subject}` : `ip:${request.ip}`),
      store: redisWithLocalFallback(redis, `${config.REDIS_KEY_PREFIX}rl:`, () => fallbacks.inc()),
      enableDraftSpec: true, // RateLimit-Limit / -Remaining / -Reset, and Retry-After on 429
      // Called with the key of the rule that applied (keyGenerator here, the auth routes' own).
      onExceeding: (_request, key) => decide(ruleOf(key), 'allowed'),
      onExceeded: (_request, key) => decide(ruleOf(key), 'limited'),
      errorResponseBuilder: (request, context) => {
        rejected.inc({
          limit: request.url.startsWith('/v1/auth/') ? 'auth' : request.subject ? 'user' : 'ip',
        });
        return new GatewayErrors.RATE_LIMITED(context.after);
      },
    });
  },
  { name: 'rate-limit', dependencies: ['http-metrics', 'bearer-auth'] },
);
