// A task read's way through the tiers: L1, L2 (Redis), then a replica caught up to the caller's last
// write, or the primary; and how writes invalidate what was cached.
import type { DashboardSpec } from '../model.ts';
import { stat, timeseries } from '../model.ts';
import { of, quantile, rate } from '../promql.ts';

const tasks = (...extra: string[]) => of('tasks', ...extra);
const byLayer = (metric: string) => `sum by (layer) (${rate(metric, tasks())})`;

export const dataPath: DashboardSpec = {
  uid: 'taskfleet-data-path',
  title: 'Taskfleet / Task data path',
  description:
    'Hits per cache layer, fills, invalidation latency, replica routing, read-your-writes floors, replica lag.',
  jobs: ['tasks', 'worker', 'redis'],
  rows: [
    {
      row: 'Caches',
      panels: [
        timeseries({
          title: 'Hit ratio by layer',
          description: 'Share of lookups each layer answered (L1 in process, L2 Redis).',
          unit: 'percentunit',
          max: 1,
          targets: [
            {
              expr: `${byLayer('tasks_cache_hits_total')} / (${byLayer('tasks_cache_hits_total')} + ${byLayer('tasks_cache_misses_total')})`,
              legend: '{{layer}}',
            },
          ],
        }),
        timeseries({
          title: 'Hits and misses by layer',
          description: 'Lookups per second by layer and kind (task, list, summary).',
          unit: 'ops',
          targets: [
            {
              expr: `sum by (layer, kind) (${rate('tasks_cache_hits_total', tasks())})`,
              legend: '{{layer}} {{kind}} hit',
            },
            {
              expr: `sum by (layer, kind) (${rate('tasks_cache_misses_total', tasks())})`,
              legend: '{{layer}} {{kind}} miss',
            },
          ],
        }),
        timeseries({
          title: 'Fills by layer',
          description: 'Entries stored after a miss, by layer and kind.',
          unit: 'ops',
          targets: [
            {
              expr: `sum by (layer, kind) (${rate('tasks_cache_fills_total', tasks())})`,
              legend: '{{layer}} {{kind}}',
            },
          ],
        }),
        timeseries({
          title: 'L1 evictions by reason',
          description: 'Invalidation (a write elsewhere), capacity (LRU bound), flush (event channel lost).',
          unit: 'ops',
          targets: [
            {
              expr: `sum by (reason) (${rate('tasks_cache_evictions_total', tasks())})`,
              legend: '{{reason}}',
            },
          ],
        }),
        timeseries({
          title: 'L1 size',
          description: "Memory each replica's in-process cache holds (bounded by its byte limit).",
          unit: 'bytes',
          targets: [{ expr: `sum by (instance) (tasks_l1_bytes{${tasks()}})`, legend: '{{instance}} bytes' }],
        }),
        timeseries({
          title: 'L1 entries',
          description: "Entries held in each replica's in-process cache.",
          unit: 'short',
          targets: [{ expr: `sum by (instance) (tasks_l1_entries{${tasks()}})`, legend: '{{instance}}' }],
        }),
        timeseries({
          title: 'Cache errors',
          description: 'Redis cache operations that failed (served from L1 and the database instead).',
          unit: 'ops',
          targets: [{ expr: `sum by (op) (${rate('tasks_cache_errors_total', tasks())})`, legend: '{{op}}' }],
        }),
      ],
    },
    {
      row: 'Invalidation',
      panels: [
        timeseries({
          title: 'Invalidation latency (write → L1 eviction)',
          description: 'From the commit (event occurredAt) to the eviction on each replica: p50 and p95.',
          unit: 's',
          targets: [0.5, 0.95].map((q) => ({
            expr: quantile(q, 'tasks_invalidation_latency_seconds', tasks(), ''),
            legend: `p${q * 100}`,
          })),
        }),
        timeseries({
          title: 'Invalidations received',
          description: 'Task events each replica received, by type.',
          unit: 'ops',
          targets: [
            {
              expr: `sum by (type) (${rate('tasks_invalidations_received_total', tasks())})`,
              legend: '{{type}}',
            },
          ],
        }),
        stat({
          title: 'Invalidation channel up',
          description: 'Replicas whose event channel is connected (L1 in use) out of all replicas.',
          unit: 'short',
          targets: [
            { expr: `sum(tasks_events_connected{${tasks()}})`, legend: 'connected' },
            { expr: `count(tasks_events_connected{${tasks()}})`, legend: 'replicas' },
          ],
        }),
      ],
    },
    {
      row: 'Replicas and read-your-writes',
      panels: [
        timeseries({
          title: 'Reads by target',
          description: 'Share of database reads served by the replicas versus the primary.',
          unit: 'percentunit',
          max: 1,
          stack: true,
          targets: [
            {
              expr: `sum by (target) (${rate('tasks_db_reads_total', tasks())}) / ignoring (target) group_left sum(${rate('tasks_db_reads_total', tasks())})`,
              legend: '{{target}}',
            },
          ],
        }),
        timeseries({
          title: 'Primary reads by reason (read-your-writes floors)',
          description:
            "Why a read went to the primary: no replica had replayed the caller's last write (not_caught_up), none in rotation, or the floor unknown.",
          unit: 'ops',
          targets: [
            {
              expr: `sum by (reason) (${rate('tasks_db_reads_total', tasks('target="primary"'))})`,
              legend: '{{reason}}',
            },
          ],
        }),
        timeseries({
          title: 'Replica read failures',
          description: 'Reads that failed on a replica and were retried on the primary.',
          unit: 'ops',
          targets: [
            {
              expr: `sum by (replica) (${rate('tasks_db_replica_read_failures_total', tasks())})`,
              legend: '{{replica}}',
            },
          ],
        }),
        timeseries({
          title: 'Replica lag (time)',
          description: 'Replay delay of each replica, as the task replicas measure it.',
          unit: 's',
          targets: [
            { expr: `max by (replica) (tasks_db_replica_lag_seconds{${tasks()}})`, legend: '{{replica}}' },
          ],
        }),
        timeseries({
          title: 'Replica lag (WAL bytes)',
          description: 'WAL a replica has not replayed yet.',
          unit: 'bytes',
          targets: [
            { expr: `max by (replica) (tasks_db_replica_lag_bytes{${tasks()}})`, legend: '{{replica}}' },
          ],
        }),
        stat({
          title: 'Replicas in rotation',
          description: 'Replicas each task replica sends reads to (left out while behind their bound).',
          unit: 'none',
          targets: [
            { expr: `min by (replica) (tasks_db_replica_in_rotation{${tasks()}})`, legend: '{{replica}}' },
          ],
          mappings: { '0': 'out', '1': 'in' },
        }),
        timeseries({
          title: 'Consistency-token store errors',
          description: "Failures to record or look up a caller's last-write position (Redis away).",
          unit: 'ops',
          targets: [
            {
              expr: `sum by (op) (${rate('tasks_consistency_token_errors_total', tasks())})`,
              legend: '{{op}}',
            },
          ],
        }),
      ],
    },
    {
      row: 'Redis',
      panels: [
        timeseries({
          title: 'Redis commands',
          description: 'Commands per second Redis processed (caches, limits, idempotency keys, tokens).',
          unit: 'ops',
          targets: [{ expr: `sum by (instance) (${rate('redis_commands_processed_total', of('redis'))})` }],
        }),
        timeseries({
          title: 'Redis memory',
          description: 'Memory Redis uses, against its maxmemory bound when one is set.',
          unit: 'bytes',
          targets: [
            {
              expr: `sum by (instance) (redis_memory_used_bytes{${of('redis')}})`,
              legend: 'used {{instance}}',
            },
          ],
        }),
        timeseries({
          title: 'Redis clients and keys',
          description: 'Connected clients and keys held, all databases together.',
          unit: 'short',
          targets: [
            {
              expr: `sum by (instance) (redis_connected_clients{${of('redis')}})`,
              legend: 'clients {{instance}}',
            },
            { expr: `sum by (instance) (redis_db_keys{${of('redis')}})`, legend: 'keys {{instance}}' },
          ],
        }),
      ],
    },
  ],
};
