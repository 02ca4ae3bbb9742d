// The orchestrator the autoscaler scales (Swarm or the native stack), and the start-up check: the
// services it is to manage are listed once before it serves, and a service it can't manage — a label it
// can't parse, min above max, a name in AUTOSCALER_SERVICES that isn't there — stops the start with
// every problem listed (a ConfigError: exit 2, as for a bad variable).
import { ConfigError } from '@taskfleet/service';
import fp from 'fastify-plugin';
import type { Config } from '../config.ts';
import type { Driver } from '../drivers/driver.ts';
import { OrchestratorUnavailable } from '../drivers/driver.ts';
import { NativeDriver } from '../drivers/native.ts';
import { SwarmDriver } from '../drivers/swarm.ts';

declare module 'fastify' {
  interface FastifyInstance {
    scalingDriver: Driver;
  }
}

export function createDriver(config: Config): Driver {
  if (config.AUTOSCALER_DRIVER === 'native')
    return new NativeDriver({
      stackDir: config.TASKFLEET_STACK_DIR,
      policies: config.AUTOSCALER_NATIVE_POLICY,
      only: config.services,
    });
  return new SwarmDriver({
    dockerHost: config.DOCKER_HOST,
    stackPrefix: config.AUTOSCALER_STACK_PREFIX,
    only: config.services,
  });
}

export default fp<{ config: Config; driver?: Driver }>(
  async (app, opts) => {
    const driver = opts.driver ?? createDriver(opts.config);
    app.addHook('onClose', () => driver.close());
    const { problems, services } = await driver.list().catch(async (err) => {
      await driver.close();
      throw new OrchestratorUnavailable(
        `cannot list the services to manage (${driver.kind}): ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    });
    if (problems.length) {
      await driver.close();
      throw new ConfigError(
        `cannot manage ${problems.length === 1 ? 'a service' : 'these services'}:\n  ${problems
          .map((p) => `${p.service}: ${p.problem}`)
          .join('\n  ')}`,
      );
    }
    app.log.info(
      {
        driver: driver.kind,
        services: services.map((s) => ({ name: s.name, job: s.job, policy: s.policy })),
      },
      'autoscaler: managing %d services',
      services.length,
    );
    app.decorate('scalingDriver', driver);
  },
  { name: 'driver' },
);
