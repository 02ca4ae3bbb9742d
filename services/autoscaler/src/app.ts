// Builds the autoscaler: the service defaults (health, metrics, errors), its metrics, the orchestrator
// it scales and the Prometheus it reads (plugins/), and the loop that decides (jobs/). It has no API
// routes: everything it does is in the loop, its metrics and its log. One replica only (two would each
// decide; the versioned updates keep them from overwriting each other, but they would double the steps).
import { serviceDefaults, serviceOptions } from '@taskfleet/service';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import Fastify from 'fastify';
import type { Config } from './config.ts';
import type { Driver } from './drivers/driver.ts';
import { AutoscalerErrors } from './errors.ts';
import scaling from './jobs/scaling.ts';
import driver from './plugins/driver.ts';
import metrics from './plugins/metrics.ts';
import prometheus from './plugins/prometheus.ts';

export async function buildApp(
  config: Config,
  opts: { logger?: FastifyServerOptions['logger']; driver?: Driver; now?: () => number } = {},
): Promise<FastifyInstance> {
  const app = Fastify(serviceOptions({ logger: opts.logger }));
  await app.register(serviceDefaults, { errors: AutoscalerErrors });

  await app.register(metrics);
  await app.register(driver, { config, ...(opts.driver ? { driver: opts.driver } : {}) });
  await app.register(prometheus, { config });

  await app.register(scaling, { config, ...(opts.now ? { now: opts.now } : {}) });
  return app;
}
