// Builds the task service's Fastify app (no socket: tests inject, server.ts listens). The order every
// service follows: the service defaults (errors, access log, metrics, health, trace context), external
// plugins, the app's own plugins (each declares what it depends on), then routes.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { serviceDefaults, serviceOptions } from '@taskfleet/service';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import Fastify from 'fastify';
import type { Config } from './config.ts';
import { TasksErrors } from './errors.ts';
import auth from './plugins/auth.ts';
import cache from './plugins/cache.ts';
import database from './plugins/database.ts';
import metrics from './plugins/metrics.ts';
import store from './plugins/store.ts';
import tasksRoutes from './routes/tasks.ts';

export interface BuildOptions {
  logger?: FastifyServerOptions['logger'];
}

export async function buildApp(config: Config, opts: BuildOptions = {}): Promise<FastifyInstance> {
  // Query strings are declared as strings: serviceOptions' validation doesn't coerce them.
  const app = Fastify({
    ...serviceOptions({ logger: opts.logger, bodyLimit: config.BODY_LIMIT }),
    routerOptions: { maxParamLength: 100 },
  }).withTypeProvider<TypeBoxTypeProvider>();
  await app.register(serviceDefaults, { errors: TasksErrors });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Taskfleet tasks API',
        version: '1.0.0',
        description: 'Tasks of the calling user. Errors are RFC 9457 problem details with a stable `code`.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  await app.register(metrics);
  await app.register(database, { config });
  await app.register(cache, { config });
  await app.register(store);
  await app.register(auth, { config });

  await app.register(tasksRoutes);
  return app;
}
