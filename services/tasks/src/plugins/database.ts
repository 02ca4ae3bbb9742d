// Pools (primary + one per replica, all through PgBouncer), the read router and the consistency tokens,
// with their health checks. The data path (task-store.ts) uses `app.db.readAt` and `app.db.write`; it
// never picks a pool. A database that is down surfaces as the error it is: the error handler turns it
// into 503 (isDependencyDown), the one place that mapping lives.
import { formatLsn, maxLsn, parseLsn } from '@taskfleet/events';
import { inSpan, postgresPool, redisClient } from '@taskfleet/service';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Config } from '../config.ts';
import { replicaUrls } from '../config.ts';
import { ConsistencyTokens } from '../db/consistency.ts';
import type { ReadTarget } from '../db/read-router.ts';
import { ReadRouter } from '../db/read-router.ts';
import { currentWalLsn } from '../tasks-repository.ts';

export type Queryable = Pick<pg.Pool, 'query'>;

export interface Written<T> {
  result: T;
  /** The commit's WAL position; null when it could not be read (the write stands all the same). */
  lsn: bigint | null;
  /** The position as a consistency token for the client, when known. */
  token: string | null;
}

export interface Database {
  primary: pg.Pool;
  router: ReadRouter;
  redis: Redis;
  /**
   * The position `owner`'s reads must reflect: their last write (Redis) and the token they sent back.
   * null: no recent write; undefined: unknown (token store down, no token) — only the primary is safe.
   */
  minLsnFor(owner: string, clientToken: bigint | null): Promise<bigint | null | undefined>;
  /** Read from a node that has replayed `minLsn`; also says how fresh the data is at least. */
  readAt<T>(
    minLsn: bigint | null | undefined,
    fn: (db: Queryable) => Promise<T>,
  ): Promise<{ value: T; lsn: bigint }>;
  /** Run a write on the primary; returns its result and the commit position (not yet recorded). */
  write<T>(fn: (db: Queryable) => Promise<T>): Promise<Written<T>>;
  /** Steer `owner`'s next reads to nodes at or past their write at `lsn` (best effort: never throws). */
  recordWrite(owner: string, lsn: bigint): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    db: Database;
  }
}

export default fp<{ config: Config }>(
  async (app, { config }) => {
    const { metrics } = app;
    const settings = config; // DB_POOL_MAX, DB_POOL_WAIT_MS, DB_QUERY_TIMEOUT_MS
    const primary = postgresPool(app, {
      url: config.DATABASE_PRIMARY_URL,
      name: 'tasks-primary',
      settings,
      readiness: { check: 'primary', critical: true },
    });
    const replicas = replicaUrls(config).map((url, i) => {
      const name = new URL(url).pathname.slice(1) || `replica${i + 1}`;
      return { name, pool: postgresPool(app, { url, name: `tasks-${name}`, settings }) };
    });
    const router = new ReadRouter(primary, replicas, {
      pollMs: config.REPLICA_POLL_MS,
      maxLagBytes: config.REPLICA_MAX_LAG_BYTES,
      maxLagSeconds: config.REPLICA_MAX_LAG_SECONDS,
      onError: (replica, err) => app.log.debug({ err, replica }, 'replica poll failed'),
      onPoll: (states) => {
        for (const r of states) {
          metrics.replicaLagBytes.set({ replica: r.name }, r.lagBytes);
          metrics.replicaLagSeconds.set({ replica: r.name }, r.lagSeconds);
          metrics.replicaInRotation.set({ replica: r.name }, r.inRotation ? 1 : 0);
        }
      },
    });
    // Reads never wait long on Redis: without it they go to the primary instead.
    const redis = await redisClient(app, config.REDIS_URL, { commandTimeoutMs: 250 });
    const tokens = new ConsistencyTokens(redis, {
      prefix: config.REDIS_KEY_PREFIX,
      ttlSeconds: config.CONSISTENCY_TTL_SECONDS,
      onError: (op) => metrics.tokenStoreErrors.inc({ op }),
    });

    const runOn = async <T>(target: ReadTarget, fn: (db: Queryable) => Promise<T>): Promise<T> => {
      const labels =
        target.kind === 'replica'
          ? { target: 'replica', reason: 'caught_up' }
          : { target: 'primary', reason: target.reason };
      metrics.dbReads.inc(labels);
      return fn(target.kind === 'replica' ? target.replica.pool : primary);
    };

    /** A read on `target`; a replica that fails it is taken out of rotation and the primary answers. */
    async function readOn<T>(
      target: ReadTarget,
      minLsn: bigint | null | undefined,
      fn: (db: Queryable) => Promise<T>,
    ): Promise<{ value: T; lsn: bigint }> {
      // How fresh the data will be at least: positions only grow, so the last polled one is a floor.
      // The primary holds every commit acknowledged before the read, so also the asked-for position.
      const stamp = (t: ReadTarget) =>
        t.kind === 'replica'
          ? (t.replica.replayLsn ?? 0n)
          : (maxLsn(router.primaryLsn, minLsn ?? null) ?? 0n);
      try {
        return { value: await runOn(target, fn), lsn: stamp(target) };
      } catch (err) {
        if (target.kind !== 'replica') throw err;
        // The replica failed between polls (stopped, restarting): out of rotation, and read from the primary.
        app.log.warn(
          { err, replica: target.replica.name },
          'read failed on replica; retrying on the primary',
        );
        router.markFailed(target.replica);
        metrics.replicaReadFailures.inc({ replica: target.replica.name });
        const fallback: ReadTarget = { kind: 'primary', reason: 'no_replica' };
        return { value: await runOn(fallback, fn), lsn: stamp(fallback) };
      }
    }

    const db: Database = {
      primary,
      router,
      redis,
      async minLsnFor(owner, clientToken) {
        const stored = await tokens.lastWrite(owner);
        // Unknown store: only the client's own token can still clear a replica; without one, the primary.
        return stored === undefined ? (clientToken ?? undefined) : maxLsn(stored, clientToken);
      },
      readAt: (minLsn, fn) =>
        // In a trace: where the read went and why, and the position it had to reflect.
        inSpan('db.route', minLsn ? { 'db.read.min_lsn': formatLsn(minLsn) } : {}, (span) => {
          const target = router.route(minLsn);
          span.setAttribute('db.read.target', target.kind === 'replica' ? target.replica.name : 'primary');
          if (target.kind === 'primary') span.setAttribute('db.read.reason', target.reason);
          return readOn(target, minLsn, fn);
        }),
      async write(fn) {
        const result = await fn(primary);
        // After the commit: the primary's WAL position now covers it (a position read inside the
        // transaction would precede the commit record). The write has succeeded whatever happens next,
        // so a failure here costs the token, never the response.
        try {
          const lsn = parseLsn(await currentWalLsn(primary));
          return { result, lsn, token: formatLsn(lsn) };
        } catch (err) {
          app.log.warn({ err }, 'could not read the commit position after a write');
          metrics.tokenStoreErrors.inc({ op: 'commit_lsn' });
          return { result, lsn: null, token: null };
        }
      },
      async recordWrite(owner, lsn) {
        await tokens.record(owner, lsn);
      },
    };
    app.decorate('db', db);
    await router.start();
    app.addHook('onClose', async () => router.stop());

    // Degraded but serving: without Redis, reads of recent writers go to the primary.
    app.health.add({
      name: 'redis',
      critical: false,
      check: () => {
        if (redis.status !== 'ready') throw new Error(`connection ${redis.status}`);
      },
    });
    app.health.add({
      name: 'replicasInRotation',
      critical: false,
      check: () => `${router.replicas.filter((r) => r.inRotation).length} of ${router.replicas.length}`,
    });
  },
  { name: 'database', dependencies: ['metrics', 'health'] },
);
