// Builds the worker: the outbox relay, the durable cache invalidator and database maintenance (jobs/),
// on the clients they share (plugins/), with the health and metrics endpoints every service has. Any
// number of workers may run (SKIP LOCKED relay, one shared quorum queue). The order every service
// follows: the service defaults, the app's own plugins, then its jobs (a worker has no API routes).
import { serviceDefaults, serviceOptions } from '@taskfleet/service';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import Fastify from 'fastify';
import type { Config } from './config.ts';
import { WorkerErrors } from './errors.ts';
import invalidator from './jobs/invalidator.ts';
import maintenance from './jobs/maintenance.ts';
import type { OutboxRelay } from './jobs/relay.ts';
import relay from './jobs/relay.ts';
import amqp from './plugins/amqp.ts';
import database from './plugins/database.ts';
import metrics from './plugins/metrics.ts';
import redis from './plugins/redis.ts';

export async function buildApp(
  config: Config,
  opts: { logger?: FastifyServerOptions['logger'] } = {},
): Promise<FastifyInstance> {
  const app = Fastify(serviceOptions({ logger: opts.logger }));
  await app.register(serviceDefaults, { errors: WorkerErrors });

  await app.register(metrics);
  await app.register(database, { config });
  await app.register(redis, { config });
  await app.register(amqp, { config });

  await app.register(relay, { config });
  await app.register(invalidator, { config });
  await app.register(maintenance, { config });
  return app;
}

/** The worker app with its jobs' handles, for tests. */
export interface Worker {
  app: FastifyInstance;
  relay: OutboxRelay;
  /** One maintenance pass: partitions ahead, old sent outbox rows and expired idempotency keys removed. */
  maintain(): Promise<void>;
}

export async function buildWorker(
  config: Config,
  opts: { logger?: FastifyServerOptions['logger'] } = {},
): Promise<Worker> {
  const app = await buildApp(config, opts);
  return { app, relay: app.relay, maintain: app.maintain };
}
