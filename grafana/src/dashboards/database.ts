// PostgreSQL (primary and two streaming replicas, each with its exporter: label `node`), PgBouncer in
// front of each node, and the services' own pools — the three places a query can wait.
import type { DashboardSpec } from '../model.ts';
import { stat, timeseries } from '../model.ts';
import { of, quantile, rate, sel } from '../promql.ts';

const pg = (...extra: string[]) => of('postgres', ...extra);
const pgb = (...extra: string[]) => of('pgbouncer', ...extra);
// Monthly partitions of the tasks table: tasks_pYYYY_MM (services/tasks/migrations/0001_tasks.sql).
const PARTITIONS = 'relname=~"tasks_p[0-9]{4}_[0-9]{2}"';
// Template databases never hold application data.
const databases = 'datname!~"template.*"';

export const database: DashboardSpec = {
  uid: 'taskfleet-database',
  title: 'Taskfleet / Database',
  description: 'Postgres nodes, replication, slow queries and partitions; PgBouncer pools; service pools.',
  jobs: ['postgres', 'pgbouncer', 'tasks', 'users', 'worker'],
  rows: [
    {
      row: 'PostgreSQL',
      panels: [
        stat({
          title: 'Nodes up',
          description: 'Whether each node answers its exporter (1 up, 0 down).',
          unit: 'none',
          targets: [{ expr: `max by (node) (pg_up{${pg()}})`, legend: '{{node}}' }],
          mappings: { '0': 'down', '1': 'up' },
          width: 6,
        }),
        stat({
          title: 'Connections used',
          description: 'Backends on each node out of max_connections.',
          unit: 'percentunit',
          targets: [
            {
              expr: `sum by (node) (pg_stat_activity_count{${pg()}}) / max by (node) (pg_settings_max_connections{${pg()}})`,
              legend: '{{node}}',
            },
          ],
          redFrom: 0.9,
          width: 6,
        }),
        timeseries({
          title: 'Transactions by node',
          description: 'Commits and rollbacks per second (reads on the replicas, writes on the primary).',
          unit: 'ops',
          width: 12,
          targets: [
            {
              expr: `sum by (node) (${rate('pg_stat_database_xact_commit', pg(databases))})`,
              legend: '{{node}} commit',
            },
            {
              expr: `sum by (node) (${rate('pg_stat_database_xact_rollback', pg(databases))})`,
              legend: '{{node}} rollback',
            },
          ],
        }),
        timeseries({
          title: 'Buffer cache hit ratio',
          description: 'Share of block reads served from shared buffers, per node.',
          unit: 'percentunit',
          max: 1,
          targets: [
            {
              expr: `sum by (node) (${rate('pg_stat_database_blks_hit', pg(databases))}) / (sum by (node) (${rate('pg_stat_database_blks_hit', pg(databases))}) + sum by (node) (${rate('pg_stat_database_blks_read', pg(databases))}))`,
              legend: '{{node}}',
            },
          ],
        }),
        timeseries({
          title: 'Rows by operation',
          description: 'Rows returned by scans, fetched by index, inserted, updated, deleted — all nodes.',
          unit: 'ops',
          targets: ['returned', 'fetched', 'inserted', 'updated', 'deleted'].map((op) => ({
            expr: `sum by (node) (${rate(`pg_stat_database_tup_${op}`, pg(databases))})`,
            legend: `{{node}} ${op}`,
          })),
        }),
        timeseries({
          title: 'Longest running transaction (slow queries)',
          description:
            'Age of the oldest transaction running a query or idle inside a transaction, per node: a stuck query shows here.',
          unit: 's',
          targets: [
            {
              expr: `max by (node, state) (pg_stat_activity_max_tx_duration{${pg('state=~"active|idle in transaction.*"')}})`,
              legend: '{{node}} {{state}}',
            },
          ],
        }),
        timeseries({
          title: 'Locks by mode',
          description: 'Locks held on each node, by mode.',
          unit: 'short',
          targets: [{ expr: `sum by (node, mode) (pg_locks_count{${pg()}})`, legend: '{{node}} {{mode}}' }],
        }),
        timeseries({
          title: 'Deadlocks and replica conflicts',
          description: 'Deadlocks detected, and queries on replicas cancelled by recovery conflicts.',
          unit: 'ops',
          targets: [
            {
              expr: `sum by (node) (${rate('pg_stat_database_deadlocks', pg(databases))})`,
              legend: '{{node}} deadlocks',
            },
            {
              expr: `sum by (node) (${rate('pg_stat_database_conflicts', pg(databases))})`,
              legend: '{{node}} conflicts',
            },
          ],
        }),
        timeseries({
          title: 'Database size',
          description: "On-disk size of each database (the primary's; replicas hold the same).",
          unit: 'bytes',
          targets: [
            {
              expr: `max by (datname) (pg_database_size_bytes{${pg(databases, 'node="primary"')}})`,
              legend: '{{datname}}',
            },
          ],
        }),
        timeseries({
          title: 'Task partitions',
          description:
            'Monthly partitions of the tasks table (the worker creates them months ahead) and their live rows.',
          unit: 'short',
          targets: [
            {
              expr: `count(pg_stat_user_tables_n_live_tup{${pg('node="primary"', PARTITIONS)}})`,
              legend: 'partitions',
            },
            {
              expr: `sum by (relname) (pg_stat_user_tables_n_live_tup{${pg('node="primary"', PARTITIONS)}})`,
              legend: '{{relname}} rows',
            },
          ],
        }),
      ],
    },
    {
      row: 'Replication',
      panels: [
        timeseries({
          title: 'Replay lag by replica (time)',
          description:
            "How long each replica's replay has been behind the WAL it received (0 when caught up).",
          unit: 's',
          targets: [
            {
              expr: `max by (node) (pg_replication_lag_seconds{${pg('node!="primary"')}})`,
              legend: '{{node}}',
            },
          ],
        }),
        timeseries({
          title: 'Replication lag by replica (bytes)',
          description: 'WAL each replica has not replayed yet, seen from the primary (pg_stat_replication).',
          unit: 'bytes',
          targets: [
            {
              expr: `max by (application_name) (pg_stat_replication_pg_wal_lsn_diff{${pg()}})`,
              legend: '{{application_name}}',
            },
          ],
        }),
        timeseries({
          title: 'Standby lag seen by the primary',
          description:
            'Time until each standby wrote, flushed and replayed recent WAL (pg_stat_replication).',
          unit: 's',
          targets: ['write', 'flush', 'replay'].map((stage) => ({
            expr: `max by (standby) (pg_replication_standby_${stage}_lag_seconds{${pg()}})`,
            legend: `{{standby}} ${stage}`,
          })),
        }),
        timeseries({
          title: 'WAL written',
          description: 'WAL the primary generates per second: what the replicas must keep up with.',
          unit: 'Bps',
          width: 24,
          targets: [
            {
              expr: `max(${rate('pg_stat_replication_pg_current_wal_lsn_bytes', pg())})`,
              legend: 'primary',
            },
          ],
        }),
      ],
    },
    {
      row: 'PgBouncer',
      panels: [
        timeseries({
          title: 'PgBouncer clients',
          description:
            'Client connections linked to a server connection (active) and queued for one (waiting).',
          unit: 'short',
          targets: [
            { expr: `sum by (instance) (pgbouncer_active_clients{${pgb()}})`, legend: '{{instance}} active' },
            {
              expr: `sum by (instance) (pgbouncer_waiting_clients{${pgb()}})`,
              legend: '{{instance}} waiting',
            },
          ],
        }),
        timeseries({
          title: 'PgBouncer server connections',
          description: 'Connections to Postgres in use and idle, per PgBouncer.',
          unit: 'short',
          targets: [
            { expr: `sum by (instance) (pgbouncer_used_servers{${pgb()}})`, legend: '{{instance}} used' },
            { expr: `sum by (instance) (pgbouncer_free_servers{${pgb()}})`, legend: '{{instance}} free' },
          ],
        }),
        timeseries({
          title: 'PgBouncer longest wait',
          description: 'How long the oldest waiting client has waited for a server connection, per database.',
          unit: 's',
          targets: [
            { expr: `max by (database) (pgbouncer_max_wait_seconds{${pgb()}})`, legend: '{{database}}' },
          ],
        }),
        timeseries({
          title: 'PgBouncer queries and transactions',
          description: 'Queries and transactions pooled per second, all databases.',
          unit: 'ops',
          targets: [
            {
              expr: `sum by (instance) (${rate('pgbouncer_queries_total', pgb())})`,
              legend: '{{instance}} queries',
            },
            {
              expr: `sum by (instance) (${rate('pgbouncer_transactions_total', pgb())})`,
              legend: '{{instance}} transactions',
            },
          ],
        }),
        timeseries({
          title: 'PgBouncer pool size',
          description: 'Configured server connections per database.',
          unit: 'short',
          targets: [{ expr: `max by (database) (pgbouncer_pool_size{${pgb()}})`, legend: '{{database}}' }],
        }),
      ],
    },
    {
      row: 'Service pools',
      panels: [
        timeseries({
          title: 'Pool connections',
          description: 'Connections each service pool holds, and how many are idle.',
          unit: 'short',
          targets: [
            {
              expr: `sum by (job, pool, state) (db_pool_connections{${sel()}})`,
              legend: '{{job}} {{pool}} {{state}}',
            },
          ],
        }),
        timeseries({
          title: 'Clients waiting for a connection',
          description: 'Queries queued in a service because its pool is fully checked out.',
          unit: 'short',
          targets: [
            { expr: `sum by (job, pool) (db_pool_waiting_clients{${sel()}})`, legend: '{{job}} {{pool}}' },
          ],
        }),
        timeseries({
          title: 'Connection acquire time p95',
          description: 'Time a query waited to get a pooled connection.',
          unit: 's',
          targets: [
            {
              expr: quantile(0.95, 'db_pool_acquire_duration_seconds', sel(), 'job, pool'),
              legend: '{{job}} {{pool}}',
            },
          ],
        }),
      ],
    },
  ],
};
