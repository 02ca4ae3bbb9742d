// The public API's routes: /v1/tasks* to the task service (after verifying the caller's access token),
// /v1/auth*, /v1/users*, /.well-known/jwks.json to the users service. A POST goes through the
// Idempotency-Key claims; everything else is forwarded as it is.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import { exchange, forward } from '../proxy.ts';
import type { UpstreamGroup } from '../upstreams.ts';

const ALL = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'] as const;

const proxyRoutes: FastifyPluginAsync<{ config: Config }> = async (app, { config }) => {
  const { idempotency, proxyOptions, upstreams } = app;

  // Bodies are forwarded as they came (the services validate them); only their size is checked here.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  // `durableKeys`: the service records Idempotency-Keys with the effect they guard (in its database), so
  // a create with a key stays at most once when Redis is away. Only the task service does today.
  const to =
    (group: UpstreamGroup, { durableKeys }: { durableKeys: boolean }) =>
    (request: FastifyRequest, reply: FastifyReply) =>
      request.method === 'POST'
        ? idempotency.handle(request, reply, () => exchange(request, group, proxyOptions), durableKeys)
        : forward(request, reply, group, proxyOptions);
  const toTasks = to(upstreams.tasks, { durableKeys: true });
  const toUsers = to(upstreams.users, { durableKeys: false });

  const authLimit = {
    rateLimit: {
      max: config.RATE_LIMIT_AUTH_MAX,
      timeWindow: config.RATE_LIMIT_AUTH_WINDOW_MS,
      keyGenerator: (request: FastifyRequest) => `auth:${request.ip}`,
    },
  };
  app.route({ method: [...ALL], url: '/v1/tasks', onRequest: app.authenticate, handler: toTasks });
  app.route({ method: [...ALL], url: '/v1/tasks/*', onRequest: app.authenticate, handler: toTasks });
  app.route({ method: [...ALL], url: '/v1/auth/*', config: authLimit, handler: toUsers });
  app.route({ method: [...ALL], url: '/v1/users/*', handler: toUsers });
  app.get('/.well-known/jwks.json', { config: { rateLimit: false } }, toUsers);
};

export default proxyRoutes;
