// Builds the users service's Fastify app (no socket: tests inject, server.ts listens). The order every
// service follows: the service defaults, external plugins, the app's own plugins, then routes.
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { serviceDefaults, serviceOptions } from '@taskfleet/service';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import Fastify from 'fastify';
import type { Config } from './config.ts';
import { UsersErrors } from './errors.ts';
import database from './plugins/database.ts';
import metrics from './plugins/metrics.ts';
import tokens from './plugins/tokens.ts';
import authRoutes from './routes/auth.ts';
import tokenRoutes from './routes/token.ts';
import usersRoutes from './routes/users.ts';

export async function buildApp(
  config: Config,
  opts: { logger?: FastifyServerOptions['logger'] } = {},
): Promise<FastifyInstance> {
  const app = Fastify(
    serviceOptions({ logger: opts.logger, bodyLimit: config.BODY_LIMIT }),
  ).withTypeProvider<TypeBoxTypeProvider>();
  await app.register(serviceDefaults, { errors: UsersErrors });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Taskfleet users API', version: '1.0.0', description: 'Accounts and tokens.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
  });
  app.get('/docs/json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(metrics);
  await app.register(database, { config });
  await app.register(tokens, { config });

  await app.register(authRoutes, { config });
  await app.register(tokenRoutes);
  await app.register(usersRoutes);
  return app;
}
