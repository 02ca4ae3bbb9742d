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

// Credentials never reach a log line: the headers that carry them in any `headers` object at the top
// of a logged object or one level down (`{ request: { headers } }`; Fastify's own req/res serializers
// drop headers anyway), and secret fields at the top or up to two levels down (`{ body: { password } }`,
// `{ req: { body: { refreshToken } } }`). pino can't match at any depth and every path costs on every
// line, the access log's included (docs/logs.md has the cost), so two levels is the bound. Nothing
// here logs bodies or headers: this is the safety net.
const SECRET_HEADERS = ['authorization', 'cookie', '["set-cookie"]'];
const SECRET_FIELDS = ['password', 'refreshToken', 'accessToken', 'token'];
export const REDACTED_PATHS: readonly string[] = [
  ...SECRET_HEADERS.flatMap((header) => {
    const at = header.startsWith('[') ? header : `.${header}`;
    return [`headers${at}`, `*.headers${at}`];
  }),
  ...SECRET_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]),
];

/** Logger options for a service: the level, trace ids, and credentials redacted (REDACTED_PATHS). */
export const serviceLogger = (level: string): FastifyServerOptions['logger'] => ({
  level,
  // trace_id and span_id on every line logged inside a trace (nothing outside one, or without the SDK).
  mixin: traceLogFields,
  redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
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
