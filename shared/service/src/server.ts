// How every service process runs: JSON logs with credentials redacted, graceful shutdown (readiness
// goes false at once, in-flight requests finish, pools close; a second signal or 10 s ends it), listen.
import closeWithGrace from 'close-with-grace';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';

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
