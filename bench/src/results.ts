// The shape of a benchmark run as written to bench/results/<timestamp>.json. The HTML report and the
// text summary read only this, so a results file can be re-rendered later (`bench report <file>`).

/** One measured run: a scenario through the full stack, or a ceiling it is compared with. */
export interface Measurement {
  /** e.g. `read-hot`, `ceiling-proxy-hello`, `ceiling-pg-write` */
  name: string;
  kind: 'scenario' | 'ceiling';
  /** closed: N connections send back to back (maximum throughput). open: a fixed arrival rate, latency
   * counted from when each request was due, so queueing in the client is not hidden. */
  mode: 'closed' | 'open';
  /** What generated the load: our HTTP client, or pgbench. */
  client: 'http' | 'pgbench';
  connections: number;
  /** Open loop: the arrival rate asked for (requests/s). */
  target_rps?: number;
  duration_s: number;
  requests: number;
  rps: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  max_ms: number;
  /** Transport failures, timeouts and any response that is not the status the request expects. */
  errors: number;
  error_rate: number;
  /** Responses by status code ("200": n, "429": n …); transport errors under "error". */
  statuses: Record<string, number>;
  /** Task-service cache hits ÷ lookups during the run (L1 or L2), when it read tasks. */
  cache_hit_ratio?: number;
  /** Reads the task service ran on a replica ÷ all its database reads during the run. */
  replica_read_share?: number;
  /** CPU used during the run by each kind of process, in cores (1.0 = one core busy the whole run). */
  cpu_cores: Record<string, number>;
  /** Largest number of client connections nginx reported open during the run. */
  peak_connections?: number;
  /** One point per second. */
  timeline: TimelinePoint[];
  notes?: string[];
}

export interface TimelinePoint {
  t: number;
  /** Requests answered in second `t` (the run's last point may cover less than a second). */
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
}

export interface RunResults {
  version: 1;
  started_at: string;
  finished_at: string;
  profile: string;
  machine: { cpus: number; cpu_model: string; memory_gb: number; kernel: string; node: string };
  parameters: Record<string, unknown>;
  dataset: { users: number; tasks: number; partitions: number; seed_seconds?: number };
  measurements: Measurement[];
  /** scenario ÷ its ceiling, e.g. `read-hot/ceiling-proxy-hello`: throughput ratios of closed-loop runs. */
  ratios: Record<string, number>;
  /** The targets of docs/performance.md, each with what this run measured. */
  targets: Target[];
}

export interface Target {
  name: string;
  goal: string;
  measured: string;
  met: boolean;
}
