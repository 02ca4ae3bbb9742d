// What the autoscaler reads from Prometheus: per job, the replicas being scraped, CPU seconds per second,
// resident memory and requests per second — four instant queries for all jobs at once, each bounded in
// time. The metric names are the ones every service exports (shared/service: prom-client's process
// metrics and http_request_duration_seconds). An error or a timeout means "unreachable": the caller
// holds every service then, and says so in autoscaler_prometheus_up.
import type { Policy } from './policy.ts';

export class PrometheusUnavailable extends Error {
  override name = 'PrometheusUnavailable';
}

/** One job's raw signals: totals over its replicas, and how many replicas are up. */
export interface JobSample {
  up: number;
  /** CPU seconds per second, summed over the replicas. */
  cpu?: number;
  /** Resident bytes, the replicas' average. */
  memory?: number;
  /** Requests per second (probes and scrapes excluded), summed over the replicas. */
  rps?: number;
}

export const SIGNALS = ['cpu', 'memory', 'rps'] as const;
export type Signal = (typeof SIGNALS)[number];

/** Each signal as a fraction of its target (1.0 = at target), and the load: the highest of them. */
export interface Load {
  load: number | undefined;
  /** The highest of the signals that fall as replicas are added (policy.ts, Observation.downLoad). */
  downLoad: number | undefined;
  signals: Partial<Record<Signal, number>>;
}

interface Limits {
  cpuLimit?: number;
  memoryLimit?: number;
}

/**
 * A service's load from its job's sample. CPU is per replica ÷ its CPU limit (one core without one: a
 * Node process runs its JavaScript on one); memory needs a memory limit (without one there is nothing to
 * be a fraction of, and the signal is left out). No replica up: no data.
 */
export function loadOf(policy: Policy, limits: Limits, sample: JobSample | undefined): Load {
  if (!sample || sample.up <= 0) return { load: undefined, downLoad: undefined, signals: {} };
  const signals: Partial<Record<Signal, number>> = {};
  if (sample.cpu !== undefined)
    signals.cpu = sample.cpu / sample.up / (limits.cpuLimit ?? 1) / policy.targetCpu;
  if (sample.memory !== undefined && limits.memoryLimit)
    signals.memory = sample.memory / limits.memoryLimit / policy.targetMemory;
  if (sample.rps !== undefined) signals.rps = sample.rps / sample.up / policy.targetRps;
  const values = Object.values(signals).filter(Number.isFinite);
  const perWork = [signals.cpu, signals.rps].filter(
    (v): v is number => v !== undefined && Number.isFinite(v),
  );
  return {
    load: values.length ? Math.max(...values) : undefined,
    downLoad: perWork.length ? Math.max(...perWork) : undefined,
    signals,
  };
}

/**
 * A label value as a literal inside a PromQL regular expression, inside a double-quoted PromQL string:
 * a metacharacter gets a backslash, and every backslash is doubled for the string.
 */
const regexLiteral = (s: string) =>
  s.replace(/[\\^$.*+?()[\]{}|]/g, (c) => `\\${c}`).replace(/[\\"]/g, (c) => `\\${c}`);

export function queries(jobs: string[], window: string): Record<keyof JobSample, string> {
  const job = `job=~"${jobs.map(regexLiteral).join('|')}"`;
  return {
    up: `count by (job) (up{${job}} == 1)`,
    cpu: `sum by (job) (rate(process_cpu_seconds_total{${job}}[${window}]))`,
    memory: `avg by (job) (process_resident_memory_bytes{${job}})`,
    rps: `sum by (job) (rate(http_request_duration_seconds_count{${job}, route!~"/health/.+|/metrics"}[${window}]))`,
  };
}

interface QueryResponse {
  status: 'success' | 'error';
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

export class PrometheusReader {
  private readonly url: string;
  private readonly timeoutMs: number;
  private readonly window: string;
  constructor(url: string, timeoutMs: number, window: string) {
    this.url = url;
    this.timeoutMs = timeoutMs;
    this.window = window;
  }

  /** One instant query; any failure is PrometheusUnavailable. */
  async query(expr: string): Promise<Map<string, number>> {
    let body: QueryResponse;
    try {
      const res = await fetch(new URL('/api/v1/query', this.url), {
        method: 'POST',
        body: new URLSearchParams({ query: expr }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      body = (await res.json()) as QueryResponse;
      if (!res.ok || body.status !== 'success')
        throw new Error(`${res.status} ${body.error ?? res.statusText}`);
    } catch (err) {
      throw new PrometheusUnavailable(`${expr}: ${(err as Error).message}`, { cause: err });
    }
    const values = new Map<string, number>();
    for (const s of body.data?.result ?? []) {
      const v = Number(s.value[1]);
      if (s.metric.job && Number.isFinite(v)) values.set(s.metric.job, v);
    }
    return values;
  }

  /** Every job's sample; a job with no replica up is absent. */
  async read(jobs: string[]): Promise<Map<string, JobSample>> {
    const samples = new Map<string, JobSample>();
    // Nothing to measure, but autoscaler_prometheus_up must still say whether Prometheus answers.
    if (jobs.length === 0) {
      await this.query('vector(1)');
      return samples;
    }
    const q = queries([...new Set(jobs)], this.window);
    const [up, cpu, memory, rps] = await Promise.all([
      this.query(q.up),
      this.query(q.cpu),
      this.query(q.memory),
      this.query(q.rps),
    ]);
    for (const [job, count] of up) {
      const sample: JobSample = { up: count };
      if (cpu.has(job)) sample.cpu = cpu.get(job)!;
      if (memory.has(job)) sample.memory = memory.get(job)!;
      if (rps.has(job)) sample.rps = rps.get(job)!;
      samples.set(job, sample);
    }
    return samples;
  }
}
