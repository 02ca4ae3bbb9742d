// The users service's database: one pool on the primary (through PgBouncer) and its readiness check.
// Repository functions (users-repository.ts) take this pool.
import { postgresPool } from '@taskfleet/service';
import fp from 'fastify-plugin';
import type pg from 'pg';
import type { Config } from '../config.ts';

declare module 'fastify' {
  interface FastifyInstance {
    usersDb: pg.Pool;
  }
}

export default fp<{ config: Config }>(
  async (app, { config }) => {
    const pool = postgresPool(app, {
      url: config.DATABASE_PRIMARY_URL,
      name: 'users',
      settings: config,
      readiness: { check: 'database', critical: true },
    });
    app.decorate('usersDb', pool);
  },
  { name: 'database' },
);
