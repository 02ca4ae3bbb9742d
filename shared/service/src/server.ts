// How every service process runs: configuration or exit 2, JSON logs with credentials redacted, listen,
// and graceful shutdown. On SIGTERM/SIGINT readiness goes false at once and the process keeps serving
// for the drain window, so balancers that probe readiness stop sending before the listener closes;
// then in-flight requests finish, pools close (onClose hooks). A second signal, or 10 s past the
// window, ends it.
import { setTimeout as sleep } from 'node:timers/promises';
import closeWithGrace from 'close-with-grace';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { LogController } from 'fastify';
import { configOrExit } from './config.ts';
import { traceLogFields } from './telemetry.ts';
import { stopTracing } from './tracing.ts';

// Credentials never reach a log line: any property named like a credential header (authorization,
// cookie, set-cookie) or a secret field (password, refreshToken, accessToken, token), at any depth of a
// logged object, is written as "[redacted]". Nothing here logs bodies or headers: this is the net under
// a careless log call. A walk of the logged object (copying only what it changes) rather than pino's
// `redact`: pino matches fixed paths, and its wildcard paths multiplied the cost of every line, the
// access log's included, by four or more (docs/logs.md); the walk covers any depth and costs next to
// nothing on the small objects the services log.
// Compared without case, '-' or '_': access_token, client-secret and accessToken are one name.
const SECRET_KEYS = new Set([
  'authorization',
  'cookie',
  'setcookie',
  'password',
  'secret',
  'clientsecret',
  'refreshtoken',
  'accesstoken',
  'token',
]);
const keyName = (key: string) => key.toLowerCase().replace(/[-_]/g, '');
const REDACTED = '[redacted]';
const MAX_DEPTH = 6;

/** `value` with every secret-named property at any depth (up to MAX_DEPTH) replaced; the same object when none. */
export function redactSecrets<T>(value: T, depth = 0): T {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    const items = value.map((item) => redactSecrets(item, depth + 1));
    return (items.some((item, i) => item !== value[i]) ? items : value) as T;
  }
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key];
    const clean = SECRET_KEYS.has(keyName(key)) ? REDACTED : redactSecrets(item, depth + 1);
    if (clean === item) continue;
    // An Error stays an Error, with its message and stack.
    copy ??= faithfulCopy(value);
    copy[key] = clean;
  }
  return (copy ?? value) as T;
}

/** A copy with the same prototype and own properties; an Error's stack read once (V8 computes it lazily). */
function faithfulCopy(value: object): Record<string, unknown> {
  const copy = Object.create(Object.getPrototypeOf(value), Object.getOwnPropertyDescriptors(value));
  if (value instanceof Error)
    Object.defineProperty(copy, 'stack', { value: value.stack, writable: true, configurable: true });
  return copy;
}

/** Logger options for a service: the level, trace ids, and credentials redacted (redactSecrets). */
export const serviceLogger = (level: string): FastifyServerOptions['logger'] => ({
  level,
  // trace_id and span_id on every line logged inside a trace (nothing outside one, or without the SDK).
  mixin: traceLogFields,
  formatters: { log: (object) => redactSecrets(object) },
});

/**
 * Stop serving gracefully: readiness false now, serve on for `drainMs`, then close (in-flight requests
 * finish; new ones get 503 with `Connection: close`).
 */
export async function drain(app: FastifyInstance, drainMs: number): Promise<void> {
  app.shuttingDown = true;
  // Unreferenced: the listener keeps the process alive meanwhile, and an app closed early may just exit.
  if (drainMs > 0) await sleep(drainMs, undefined, { ref: false });
  await app.close();
}

/** The settings every service reads (serverSettings in settings.ts). */
export interface ServerSettings {
  HOST: string;
  PORT: number;
  LOG_LEVEL: string;
  SHUTDOWN_DRAIN_MS: number;
}

/**
 * A service's server.ts in one call: its configuration, its app, listening, and graceful shutdown.
 * Returns the listening app (the worker starts its first maintenance pass after this).
 */
export async function runService<C extends ServerSettings>(
  service: string,
  loadConfig: () => C,
  build: (config: C, opts: { logger: FastifyServerOptions['logger'] }) => Promise<FastifyInstance>,
): Promise<FastifyInstance> {
  const config = configOrExit(service, loadConfig);
  const app = await build(config, { logger: serviceLogger(config.LOG_LEVEL) });
  closeWithGrace({ delay: config.SHUTDOWN_DRAIN_MS + 10_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'fatal error, shutting down');
    else app.log.info({ signal, drainMs: config.SHUTDOWN_DRAIN_MS }, 'shutting down');
    await drain(app, err ? 0 : config.SHUTDOWN_DRAIN_MS);
    await stopTracing(); // the last requests' spans leave before the process does
  });
  await app.listen({ host: config.HOST, port: config.PORT });
  return app;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/**
 * The Fastify options every service starts from: its logger, one access-log line per request instead
 * of Fastify's two (serviceDefaults registers it), the body limit, the request id the caller sent
 * (nginx, the gateway) when it is a sane one or a new one, and validation that rejects what a schema
 * doesn't allow instead of fixing it silently (unknown fields are errors, not stripped; "1" is not a
 * number; no defaults filled in).
 */
export const serviceOptions = (opts: {
  logger?: FastifyServerOptions['logger'];
  bodyLimit?: number;
}): FastifyServerOptions => ({
  logger: opts.logger ?? false,
  logController: new LogController({ disableRequestLogging: true }),
  ...(opts.bodyLimit === undefined ? {} : { bodyLimit: opts.bodyLimit }),
  requestIdHeader: false,
  genReqId: (req) => {
    const given = req.headers['x-request-id'];
    return typeof given === 'string' && REQUEST_ID.test(given) ? given : crypto.randomUUID();
  },
  ajv: {
    customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: true },
  },
});
