// The task service's database, which the worker works on (ADR 0010): one pool on the primary through
// PgBouncer, its readiness check, and the outbox backlog gauges, measured when Prometheus scrapes.
import { postgresPool } from '@taskfleet/service';
import fp from 'fastify-plugin';
import type pg from 'pg';
import { Gauge } from 'prom-client';
import type { Config } from '../config.ts';

declare module 'fastify' {
  interface FastifyInstance {
    tasksDb: pg.Pool;
  }
}

export default fp<{ config: Config }>(
  async (app, { config }) => {
    const pool = postgresPool(app, {
      url: config.DATABASE_PRIMARY_URL,
      name: 'worker',
      settings: config,
      readiness: { check: 'database', critical: true },
    });
    app.decorate('tasksDb', pool);

    // One query per scrape for both gauges: each gauge's collect awaits the same measurement.
    let measuring: Promise<void> | undefined;
    const measure = () => {
      measuring ??= pool
        .query<{ n: number; age: number | null }>(
          `select count(*)::int as n, extract(epoch from clock_timestamp() - min(occurred_at))::float8 as age
             from outbox where sent_at is null`,
        )
        .then((r) => {
          backlog.set(r.rows[0]!.n);
          oldest.set(r.rows[0]!.age ?? 0);
        })
        .catch((err) => app.log.debug({ err }, 'could not measure the outbox backlog'))
        .finally(() => {
          measuring = undefined;
        });
      return measuring;
    };
    const registers = [app.metricsRegistry];
    const backlog = new Gauge({
      name: 'outbox_backlog',
      help: 'Outbox events not yet published',
      registers,
      collect: measure,
    });
    const oldest = new Gauge({
      name: 'outbox_oldest_unsent_age_seconds',
      help: 'Age of the oldest unpublished event',
      registers,
      collect: measure,
    });
  },
  { name: 'database', dependencies: ['http-metrics', 'health'] },
);
