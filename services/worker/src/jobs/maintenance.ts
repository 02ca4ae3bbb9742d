// The job: upkeep of the tasks database (partitions ahead, old outbox rows, expired Idempotency-Keys;
// db/maintenance.ts of the task service) every MAINTENANCE_INTERVAL_SECONDS, and a first pass as soon
// as the worker listens. Several workers may run it at once: each step is safe to run concurrently.
import { maintainTasksDatabase } from '@taskfleet/tasks/maintenance';
import fp from 'fastify-plugin';
import type { Config } from '../config.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** One maintenance pass. */
    maintain: () => Promise<void>;
  }
}

export default fp<{ config: Config }>(
  async (app, { config }) => {
    const maintain = async () => {
      const result = await maintainTasksDatabase(app.tasksDb, {
        outboxHours: config.OUTBOX_RETENTION_HOURS,
        idempotencyKeyHours: config.IDEMPOTENCY_KEY_RETENTION_HOURS,
      });
      app.workerMetrics.expiredKeys.inc(result.idempotencyKeysExpired);
      if (result.partitionsCreated) app.log.info(result, 'maintenance created partitions');
    };
    app.decorate('maintain', maintain);
    const pass = () => void maintain().catch((err) => app.log.warn({ err }, 'maintenance pass failed'));
    let timer: NodeJS.Timeout | undefined;
    app.addHook('onReady', async () => {
      timer = setInterval(pass, config.MAINTENANCE_INTERVAL_SECONDS * 1000);
      timer.unref();
    });
    // A process that serves (not a test's injected app) does not wait an interval for its first pass.
    app.addHook('onListen', async () => pass());
    app.addHook('onClose', async () => clearInterval(timer));
  },
  { name: 'maintenance', dependencies: ['database', 'metrics'] },
);
