// Builds the users service's Fastify app (no socket: tests inject, server.ts listens).
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { accessLog, isDependencyDown, problemDetails, serviceOptions } from '@taskfleet/service';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import Fastify from 'fastify';
import pg from 'pg';
import type { Config } from './config.ts';
import { UsersErrors } from './errors.ts';
import { HashingOverloaded, PasswordHasher } from './passwords.ts';
import metrics from './plugins/metrics.ts';
import authRoutes from './routes/auth.ts';
import usersRoutes from './routes/users.ts';
import { loadSigningKeys, TokenIssuer } from './tokens.ts';

export interface UsersContext {
  config: Config;
  db: pg.Pool;
  hasher: PasswordHasher;
  issuer: TokenIssuer;
  /** Awaits work on a dependency; overload or an unreachable dependency becomes a 503. */
  dependency<T>(work: Promise<T>): Promise<T>;
}

declare module 'fastify' {
  interface FastifyInstance {
    users: UsersContext;
    shuttingDown: boolean;
  }
}

export async function buildApp(
  config: Config,
  opts: { logger?: FastifyServerOptions['logger'] } = {},
): Promise<FastifyInstance> {
  const app = Fastify(
    serviceOptions({ logger: opts.logger, bodyLimit: config.BODY_LIMIT }),
  ).withTypeProvider<TypeBoxTypeProvider>();

  app.decorate('shuttingDown', false);
  await app.register(problemDetails, { prefix: 'USERS', bodyLimit: config.BODY_LIMIT });
  await app.register(accessLog);
  await app.register(metrics);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Taskfleet users API', version: '1.0.0', description: 'Accounts and tokens.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
  });

  const db = new pg.Pool({
    connectionString: config.DATABASE_PRIMARY_URL,
    max: 10,
    connectionTimeoutMillis: 2_000,
    query_timeout: 6_000,
    application_name: 'users',
  });
  db.on('error', (err) => app.log.warn({ err }, 'idle database connection lost'));
  app.decorate('users', {
    config,
    db,
    hasher: new PasswordHasher({
      concurrency: config.PASSWORD_HASH_CONCURRENCY,
      queue: config.PASSWORD_HASH_QUEUE,
    }),
    issuer: new TokenIssuer(await loadSigningKeys(config.AUTH_SIGNING_KEYS), {
      issuer: config.AUTH_ISSUER,
      audience: config.AUTH_AUDIENCE,
      ttlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
    }),
    async dependency<T>(work: Promise<T>): Promise<T> {
      try {
        return await work;
      } catch (err) {
        if (err instanceof HashingOverloaded || isDependencyDown(err)) throw new UsersErrors.UNAVAILABLE();
        throw err;
      }
    },
  });
  app.addHook('onClose', async () => {
    await db.end();
  });

  app.get('/health/live', { schema: { hide: true }, logLevel: 'warn' }, async () => ({ status: 'ok' }));
  app.get('/health/ready', { schema: { hide: true }, logLevel: 'warn' }, async (_request, reply) => {
    let database = 'ok';
    try {
      await db.query('select 1');
    } catch {
      database = 'unreachable';
    }
    const ready = !app.shuttingDown && database === 'ok';
    return reply.code(ready ? 200 : 503).send({
      status: ready ? 'ready' : 'not ready',
      checks: { database, shutdown: String(app.shuttingDown) },
    });
  });
  app.get('/docs/json', { schema: { hide: true } }, async () => app.swagger());
  await app.register(authRoutes);
  await app.register(usersRoutes);
  return app;
}
