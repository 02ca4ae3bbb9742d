// One log line per request, when it is answered: method, URL, status and time, under the request id.
// Fastify's own request logging writes two lines (on arrival and on completion); on the hot path of a
// cached read that was the second-largest cost after token verification (docs/performance.md), and the
// arrival line says nothing the completion line doesn't. serviceOptions turns Fastify's off and
// serviceDefaults registers this instead. Routes with `logLevel: 'warn'` (health, metrics) stay silent as before.
import fp from 'fastify-plugin';

export const accessLog = fp(
  async (app) => {
    app.addHook('onResponse', async (request, reply) => {
      request.log.info(
        {
          req: { method: request.method, url: request.url },
          res: { statusCode: reply.statusCode },
          responseTime: reply.elapsedTime,
        },
        'request completed',
      );
    });
  },
  { name: 'access-log' },
);
