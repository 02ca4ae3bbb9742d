// Pools (primary + one per replica, all through PgBouncer), the read router and the consistency tokens.
// Routes use `app.db.read(owner, token, fn)` and `app.db.write(owner, fn)`; they never pick a pool.
import { formatLsn, maxLsn, parseLsn } from '@taskfleet/events';
import { isDependencyDown } from '@taskfleet/service';
import fp from 'fastify-plugin';
import { Redis } from 'ioredis';
import pg from 'pg';
import { replicaUrls } from '../config.ts';
import { ConsistencyTokens } from '../db/consistency.ts';
import type { ReadTarget } from '../db/read-router.ts';
import { ReadRouter } from '../db/read-router.ts';
import { TasksErrors } from '../errors.ts';
import { currentWalLsn } from '../tasks-repository.ts';

export type Queryable = Pick<pg.Pool, 'query'>;

export interface Database {
  primary: pg.Pool;
  router: ReadRouter;
  redis: Redis;
  /**
   * Run a read where it may see the caller's own writes: a caught-up replica or the primary.
   * `clientToken`: the consistency token the client sent back, if any.
   */
  read<T>(owner: string, clientToken: bigint | null, fn: (db: Queryable) => Promise<T>): Promise<T>;
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
  /** Run a write on the primary; returns its result and the consistency token for the caller. */
  write<T>(
    owner: string,
    fn: (db: Queryable) => Promise<T>,
  ): Promise<{ result: T; token: string | null; lsn: bigint | null }>;
}

declare module 'fastify' {
  interface FastifyInstance {
    db: Database;
  }
}

const asUnavailable = (err: unknown) => (isDependencyDown(err) ? new TasksErrors.UNAVAILABLE() : err);

export default fp(
  async (app) => {
    const config = app.config;
    const pool = (connectionString: string, name: string) => {
      const p = new pg.Pool({
        connectionString,
        max: config.DB_POOL_MAX,
        connectionTimeoutMillis: config.DB_POOL_WAIT_MS,
        query_timeout: config.DB_QUERY_TIMEOUT_MS,
        idleTimeoutMillis: 30_000,
        application_name: `tasks-${name}`,
      });
      // An idle client losing its connection must not crash the process; the pool replaces it.
      p.on('error', (err) => app.log.warn({ err, pool: name }, 'idle database connection lost'));
      return p;
    };
    const primary = pool(config.DATABASE_PRIMARY_URL, 'primary');
    const replicas = replicaUrls(config).map((url, i) => {
      const name = new URL(url).pathname.slice(1) || `replica${i + 1}`;
      return { name, pool: pool(url, name) };
    });
    const { metrics } = app;
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
    const redis = new Redis(config.REDIS_URL, {
      // Fail fast while Redis is away: reads then fall back to the primary instead of queueing.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 250,
      connectTimeout: 1_000,
      lazyConnect: true,
      // Commands issued in the same tick (many concurrent requests) leave in one write (performance.md).
      enableAutoPipelining: true,
    });
    redis.on('error', (err) => app.log.debug({ err }, 'redis error'));
    redis
      .connect()
      .catch((err) =>
        app.log.warn({ err }, 'redis unavailable at start; reads of recent writers go to the primary'),
      );
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

    const db: Database = {
      primary,
      router,
      redis,
      async minLsnFor(owner, clientToken) {
        const stored = await tokens.lastWrite(owner);
        // Unknown store: only the client's own token can still clear a replica; without one, the primary.
        return stored === undefined ? (clientToken ?? undefined) : maxLsn(stored, clientToken);
      },
      async readAt(minLsn, fn) {
        const target = router.route(minLsn);
        // How fresh the data will be at least: positions only grow, so the last polled one is a floor.
        // The primary holds every commit acknowledged before the read, so also the asked-for position.
        const stamp = (t: ReadTarget) =>
          t.kind === 'replica'
            ? (t.replica.replayLsn ?? 0n)
            : (maxLsn(router.primaryLsn, minLsn ?? null) ?? 0n);
        try {
          return { value: await runOn(target, fn), lsn: stamp(target) };
        } catch (err) {
          if (target.kind !== 'replica') throw asUnavailable(err);
          // The replica failed between polls (stopped, restarting): out of rotation, and read from the primary.
          app.log.warn(
            { err, replica: target.replica.name },
            'read failed on replica; retrying on the primary',
          );
          router.markFailed(target.replica);
          metrics.replicaReadFailures.inc({ replica: target.replica.name });
          const fallback: ReadTarget = { kind: 'primary', reason: 'no_replica' };
          try {
            return { value: await runOn(fallback, fn), lsn: stamp(fallback) };
          } catch (retryErr) {
            throw asUnavailable(retryErr);
          }
        }
      },
      async read(owner, clientToken, fn) {
        return (await db.readAt(await db.minLsnFor(owner, clientToken), fn)).value;
      },
      async write(owner, fn) {
        let result: Awaited<ReturnType<typeof fn>>;
        try {
          result = await fn(primary);
        } catch (err) {
          throw asUnavailable(err);
        }
        // After the commit: the primary's WAL position now covers it (a position read inside the
        // transaction would precede the commit record). The write has succeeded whatever happens next,
        // so a failure here costs the token, never the response.
        try {
          const lsn = parseLsn(await currentWalLsn(primary));
          await tokens.record(owner, lsn);
          return { result, token: formatLsn(lsn), lsn };
        } catch (err) {
          app.log.warn({ err }, 'could not read the commit position after a write');
          metrics.tokenStoreErrors.inc({ op: 'commit_lsn' });
          return { result, token: null, lsn: null };
        }
      },
    };
    app.decorate('db', db);
    await router.start();

    app.addHook('onClose', async () => {
      router.stop();
      redis.disconnect();
      await Promise.all([primary.end(), ...replicas.map((r) => r.pool.end())]);
    });
  },
  { name: 'database', dependencies: ['config', 'metrics'] },
);
