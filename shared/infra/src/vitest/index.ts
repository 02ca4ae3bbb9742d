// What a test file needs to reach the shared test stack, already scoped to its own worker.

import type pg from 'pg';
import { inject } from 'vitest';
import { pgbouncerDatabase } from '../components/pgbouncer.ts';
import { amqpUrl } from '../components/rabbitmq.ts';
import { stackEnv } from '../env.ts';
import type { HostPort, StackState } from '../state.ts';
import { workerDatabase, workerRedisDb, workerVhost } from './resources.ts';

export interface TestStack {
  state: StackState;
  worker: number;
  /** This worker's own database (on the primary, replicated to every replica). */
  database: string;
  vhost: string;
  redisDb: number;
  /** Key prefix for anything else shared (e.g. names in RabbitMQ exchanges). */
  prefix: string;
  /** Environment for a service under test, pointing at this worker's database, vhost and Redis db. */
  env: Record<string, string>;
  /** node-postgres config through PgBouncer to one node ('primary', 'replica1', …) as the app role. */
  viaPgbouncer(node: string): pg.ClientConfig;
  /** node-postgres config straight to a node as the superuser (pause replay, inspect). */
  direct(node: string): pg.ClientConfig;
  redis: HostPort & { db: number };
  amqpUrl: string;
}

export function testStack(): TestStack {
  const state = inject('taskfleetStack');
  const worker = Number(process.env.VITEST_POOL_ID ?? '1');
  const database = workerDatabase(worker);
  const vhost = workerVhost(worker);
  const redisDb = workerRedisDb(worker);
  const { endpoints: e } = state;
  const nodes: Record<string, HostPort> = Object.fromEntries([
    ['primary', e.postgres.primary],
    ...e.postgres.replicas.map((r) => [r.name, r] as const),
  ]);
  const node = (name: string) => {
    const n = nodes[name];
    if (!n) throw new Error(`no Postgres node named ${name}`);
    return n;
  };
  const env = stackEnv(state, { database, vhost });
  env.REDIS_URL = `${env.REDIS_URL}/${redisDb}`;
  return {
    state,
    worker,
    database,
    vhost,
    redisDb,
    prefix: `w${worker}:`,
    env,
    viaPgbouncer: (name) => {
      node(name);
      return {
        host: e.pgbouncer.host,
        port: e.pgbouncer.port,
        user: e.postgres.appUser,
        database: pgbouncerDatabase(database, name),
      };
    },
    direct: (name) => ({
      ...node(name),
      user: e.postgres.adminUser,
      password: e.postgres.adminPassword,
      database,
    }),
    redis: { ...e.redis, db: redisDb },
    amqpUrl: amqpUrl(e.rabbitmq, vhost),
  };
}
