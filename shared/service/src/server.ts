// How every service process runs: JSON logs with credentials redacted, graceful shutdown (readiness
// goes false at once, in-flight requests finish, pools close; a second signal or 10 s ends it), listen.
import closeWithGrace from 'close-with-grace';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { LogController } from 'fastify';

/** Logger options for a service: the level, and never an Authorization or Cookie header in a log. */
export const serviceLogger = (level: string): FastifyServerOptions['logger'] => ({
  level,
  redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
});

export async function serve(
  app: FastifyInstance,
  opts: { host: string; port: number; onShutdown?: () => void },
): Promise<void> {
  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'fatal error, shutting down');
    else app.log.info({ signal }, 'shutting down');
    opts.onShutdown?.();
    await app.close();
  });
  await app.listen({ host: opts.host, port: opts.port });
}

/**
 * The Fastify options every service starts from: its logger, one access-log line per request instead
 * of Fastify's two (register `accessLog`), the body limit, the request id the caller (gateway) sends or
 * a new one, and validation that rejects what a schema doesn't allow instead of fixing it silently
 * (unknown fields are errors, not stripped; "1" is not a number; no defaults filled in).
 */
export const serviceOptions = (opts: {
  logger?: FastifyServerOptions['logger'];
  bodyLimit?: number;
}): FastifyServerOptions => ({
  logger: opts.logger ?? false,
  logController: new LogController({ disableRequestLogging: true }),
  ...(opts.bodyLimit === undefined ? {} : { bodyLimit: opts.bodyLimit }),
  requestIdHeader: 'x-request-id',
  genReqId: () => crypto.randomUUID(),
  ajv: {
    customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: true },
  },
});
