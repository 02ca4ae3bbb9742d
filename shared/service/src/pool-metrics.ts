// Postgres pool metrics, the same in every service (postgresPool registers each pool it makes): its
// connections (total, idle) and the callers waiting for one, read from the pool when Prometheus scrapes
// (no timer), and how long getting a client took. The pools of one app share the metric objects, made
// once per registry; `pool` is the pool's name, its application_name in pg_stat_activity.
import type pg from 'pg';
import { Gauge, Histogram, type Registry } from 'prom-client';

interface NamedPool {
  name: string;
  pool: pg.Pool;
}

interface PoolMetrics {
  pools: Set<NamedPool>;
  acquire: Histogram<'pool'>;
}

const perRegistry = new WeakMap<Registry, PoolMetrics>();

function poolMetrics(registry: Registry): PoolMetrics {
  const existing = perRegistry.get(registry);
  if (existing) return existing;
  const pools = new Set<NamedPool>();
  const registers = [registry];
  new Gauge({
    name: 'db_pool_connections',
    help: 'Connections a Postgres pool holds (state: total = open, idle = open and unused)',
    labelNames: ['pool', 'state'],
    registers,
    collect() {
      // From scratch each scrape: a pool that closed leaves no stale series behind.
      this.reset();
      for (const { name, pool } of pools) {
        this.inc({ pool: name, state: 'total' }, pool.totalCount);
        this.inc({ pool: name, state: 'idle' }, pool.idleCount);
      }
    },
  });
  new Gauge({
    name: 'db_pool_waiting_clients',
    help: 'Callers waiting for a connection of a Postgres pool (all of them busy, none can be opened)',
    labelNames: ['pool'],
    registers,
    collect() {
      this.reset();
      for (const { name, pool } of pools) this.inc({ pool: name }, pool.waitingCount);
    },
  });
  const acquire = new Histogram({
    name: 'db_pool_acquire_duration_seconds',
    help:
      'Time to get a client from a Postgres pool (pool.connect, and pool.query before its query): an idle ' +
      'one, a new connection, or a wait for a release; acquisitions that time out are not observed',
    labelNames: ['pool'],
    // An idle client is handed over in microseconds, a new connection through PgBouncer takes
    // milliseconds, a saturated pool up to DB_POOL_WAIT_MS.
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  const created = { pools, acquire };
  perRegistry.set(registry, created);
  return created;
}

type ConnectCallback = (
  err: Error | undefined,
  client: pg.PoolClient | undefined,
  done: (release?: unknown) => void,
) => void;
type Connect = (callback?: ConnectCallback) => Promise<pg.PoolClient> | undefined;

/**
 * Measure `pool` under `name` on `registry`; returns the function that stops counting it (when the pool
 * ends). Acquisition is timed by wrapping this pool's `connect`, which `pool.query` calls too: two clock
 * reads and one histogram observation per checkout, nothing on the query itself.
 */
export function instrumentPool(registry: Registry, name: string, pool: pg.Pool): () => void {
  const { pools, acquire } = poolMetrics(registry);
  const entry = { name, pool };
  pools.add(entry);
  const acquired = acquire.labels({ pool: name });
  const connect = pool.connect.bind(pool) as Connect;
  const timed: Connect = (callback) => {
    const start = performance.now();
    const observe = () => acquired.observe((performance.now() - start) / 1000);
    if (callback)
      return connect((err, client, done) => {
        if (!err) observe();
        callback(err, client, done);
      });
    return connect()!.then((client) => {
      observe();
      return client;
    });
  };
  // pg's typings overload connect (promise / callback); `timed` is both, as pg-pool's own is.
  (pool as unknown as { connect: Connect }).connect = timed;
  return () => {
    pools.delete(entry);
  };
}
