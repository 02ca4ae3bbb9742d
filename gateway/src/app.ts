// Builds the gateway's Fastify app: the public API's one entry point behind nginx, routing to every
// replica of the services over pooled keep-alive connections. The order every service follows: the
// service defaults, external plugins, the app's own plugins, then routes.
import underPressure from '@fastify/under-pressure';
import { commaList, serviceDefaults, serviceOptions } from '@taskfleet/service';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import Fastify from 'fastify';
import type { Config } from './config.ts';
import { GatewayErrors } from './errors.ts';
import auth from './plugins/auth.ts';
import idempotency from './plugins/idempotency.ts';
import rateLimit from './plugins/rate-limit.ts';
import upstreams from './plugins/upstreams.ts';
import proxyRoutes from './routes/proxy.ts';

export async function buildGateway(
  config: Config,
  opts: { logger?: FastifyServerOptions['logger'] } = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    ...serviceOptions({ logger: opts.logger, bodyLimit: config.BODY_LIMIT }),
    // Behind nginx only: the client address comes from its X-Forwarded-For, and from nobody else.
    trustProxy: commaList(config.TRUSTED_PROXIES),
  });
  await app.register(serviceDefaults, { errors: GatewayErrors });

  // Shed load before doing any work for a request the process can't serve in time anyway.
  if (config.SHED_EVENT_LOOP_DELAY_MS > 0) {
    await app.register(underPressure, {
      maxEventLoopDelay: config.SHED_EVENT_LOOP_DELAY_MS,
      sampleInterval: config.SHED_SAMPLE_MS,
      retryAfter: 1,
      customError: GatewayErrors.OVERLOADED,
    });
  }

  await app.register(upstreams, { config });
  await app.register(auth, { config });
  await app.register(rateLimit, { config });
  await app.register(idempotency, { config });

  await app.register(proxyRoutes, { config });
  return app;
}
