// The gateway's configuration: read from the environment once, validated as a whole.
import { commaList, Int, loadSettings, redisSettings, serverSettings } from '@taskfleet/service';
import type { Static } from 'typebox';
import { Type } from 'typebox';

export const ConfigSchema = Type.Object({
  ...serverSettings(3400),
  /**
   * Where each service runs: comma-separated base URLs. A host name is resolved to all its addresses
   * (compose and Swarm DNS give one per replica) and re-resolved every RESOLVE_INTERVAL_MS, so scaling
   * a service needs no gateway restart.
   */
  TASKS_UPSTREAMS: Type.Optional(Type.String({ minLength: 1 })),
  USERS_UPSTREAMS: Type.Optional(Type.String({ minLength: 1 })),
  /**
   * Instead of the list itself: a file holding it (URLs separated by commas or white space), read again
   * every RESOLVE_INTERVAL_MS. The native stack has no DNS that knows its replicas: its runner rewrites
   * this file (write, then rename) when it scales a service. Unreadable or empty later: the last list stays.
   */
  TASKS_UPSTREAMS_FILE: Type.Optional(Type.String({ minLength: 1 })),
  USERS_UPSTREAMS_FILE: Type.Optional(Type.String({ minLength: 1 })),
  RESOLVE_INTERVAL_MS: Int(100, 5_000),
  /** Connecting to a replica; past it, the next replica is tried. */
  CONNECT_TIMEOUT_MS: Int(10, 1_000),
  /** Keep-alive connections per replica at the most (requests beyond wait for one). */
  UPSTREAM_CONNECTIONS: Int(1, 64, 4_096),
  /** Waiting for a replica's response headers. */
  UPSTREAM_TIMEOUT_MS: Int(10, 10_000),
  /** Further attempts on other replicas for idempotent requests (and for any request never sent). */
  RETRIES: Int(0, 2, 10),
  /** Consecutive failures that open a replica's circuit, and how long it stays open. */
  BREAKER_FAILURES: Int(1, 5),
  BREAKER_OPEN_MS: Int(100, 5_000),
  /**
   * Who may tell us the client's address (X-Forwarded-For): nginx, and nobody else — otherwise a
   * caller could pick the address its per-address limits are counted under. Addresses or CIDRs,
   * comma-separated. Natively nginx is on loopback; compose sets its private network.
   */
  TRUSTED_PROXIES: Type.String({ default: '127.0.0.1,::1' }),
  AUTH_ISSUER: Type.String({ default: 'taskfleet-users' }),
  AUTH_AUDIENCE: Type.String({ default: 'taskfleet-api' }),
  /** How long the users service's JWKS is trusted before it is fetched again. */
  JWKS_CACHE_SECONDS: Int(1, 300),
  BODY_LIMIT: Int(1024, 131_072, 10_485_760),
  /**
   * Load shedding: while the event loop lags more than this (the process is saturated), new requests
   * get 503 + Retry-After at once instead of queueing until they time out. 0 turns it off.
   */
  SHED_EVENT_LOOP_DELAY_MS: Int(0, 200),
  SHED_SAMPLE_MS: Int(10, 500),
  /** Shared rate-limit counters (and idempotency records). */
  ...redisSettings(),
  /**
   * Idempotency-Key claims (ADR 0009): a claim's lease, renewed while its request runs, so a gateway
   * that dies or stalls holds a key this long at most; how long Redis may take before a claim is given
   * up (durable routes then run on the service's own record of keys); how long answers are replayed.
   */
  IDEMPOTENCY_LEASE_MS: Int(300, 3_000, 60_000),
  IDEMPOTENCY_REDIS_TIMEOUT_MS: Int(10, 500, 10_000),
  IDEMPOTENCY_TTL_SECONDS: Int(60, 86_400, 604_800),
  /** Requests per window: per user when authenticated, else per client address. */
  RATE_LIMIT_USER_MAX: Int(1, 6_000),
  RATE_LIMIT_IP_MAX: Int(1, 1_200),
  RATE_LIMIT_WINDOW_MS: Int(1_000, 60_000),
  /** Register, login, refresh, logout: per client address (seed 004 §3.3: about 5 a minute). */
  RATE_LIMIT_AUTH_MAX: Int(1, 5),
  RATE_LIMIT_AUTH_WINDOW_MS: Int(1_000, 60_000),
});
export type Config = Static<typeof ConfigSchema>;

/** An upstream's base URL: plain HTTP (TLS ends at nginx), a host and port, no path. */
export const isUpstreamUrl = (url: string): boolean => /^http:\/\/[^/]+$/.test(url);

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return loadSettings<Config>(ConfigSchema, env, (config, problems) => {
    for (const key of ['TASKS_UPSTREAMS', 'USERS_UPSTREAMS'] as const) {
      const file = config[`${key}_FILE`];
      if (!config[key] && !file) problems.push(`${key} or ${key}_FILE: one is required`);
      if (config[key] && file) problems.push(`${key} and ${key}_FILE: give one, not both`);
      for (const url of commaList(config[key] ?? '')) {
        if (!isUpstreamUrl(url)) problems.push(`${key}: "${url}" must be http://host:port with no path`);
      }
    }
  });
}
