// The HTTP load generator: one client for every scenario and for the proxy ceiling, so their ratio
// compares the servers, not two tools. Keep-alive connections (undici), three shapes of load:
//   closed      N connections, each sends its next request when the previous answer is in (max throughput);
//   open        requests due at a fixed rate whatever the server does; latency counts from when a request
//               was due, so a stalled server shows up as latency instead of as fewer requests
//               (coordinated omission, Gil Tene);
//   per-connection  many connections, each due to send at a low fixed rate (the 10k-connections claim).
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, type Dispatcher, Pool } from 'undici';
import type { TimelinePoint } from './results.ts';

export interface RequestSpec {
  method: Dispatcher.HttpMethod;
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Statuses that count as success; anything else is an error. */
  expect: readonly number[];
  /** Called with the body of a successful response (only when present: reading it costs the client). */
  onBody?: (body: string) => void;
  /** Called when the request is over, whatever happened (scenarios release per-task locks here). */
  onDone?: () => void;
}

/** Produces the next request of a scenario. */
export type NextRequest = () => RequestSpec;

export interface LoadResult {
  requests: number;
  errors: number;
  statuses: Record<string, number>;
  durationS: number;
  histogram: RecordableHistogram;
  timeline: TimelinePoint[];
}

export interface ProgressTick {
  elapsedS: number;
  totalS: number;
  rps: number;
  p99Ms: number;
  errors: number;
}

interface CommonOptions {
  origin: string;
  durationS: number;
  next: NextRequest;
  /** Per-second progress (the CLI draws it). */
  onTick?: (tick: ProgressTick) => void;
  /** A request not answered within this is an error. */
  timeoutMs?: number;
}

const US_PER_MS = 1000;
/** Histograms in microseconds, 1 µs to 120 s, 3 significant digits (HdrHistogram, built into Node). */
const newHistogram = () => createHistogram({ lowest: 1, highest: 120_000_000, figures: 3 });

/** Collects outcomes: the run's histogram and status counts, plus one histogram per second. */
class Recorder {
  readonly histogram = newHistogram();
  readonly statuses: Record<string, number> = {};
  readonly timeline: TimelinePoint[] = [];
  requests = 0;
  errors = 0;
  private second = newHistogram();
  private secondCount = 0;
  private secondErrors = 0;
  private readonly startedAt = performance.now();
  private readonly totalS: number;
  private readonly onTick: ((tick: ProgressTick) => void) | undefined;
  private ticker: NodeJS.Timeout | undefined;

  constructor(totalS: number, onTick?: (tick: ProgressTick) => void) {
    this.totalS = totalS;
    this.onTick = onTick;
    this.ticker = setInterval(() => this.closeSecond(), 1000);
  }

  record(dueAt: number, status: number | 'error', ok: boolean): void {
    const us = Math.max(1, Math.round((performance.now() - dueAt) * US_PER_MS));
    this.histogram.record(us);
    this.second.record(us);
    this.requests++;
    this.secondCount++;
    const key = String(status);
    this.statuses[key] = (this.statuses[key] ?? 0) + 1;
    if (!ok) {
      this.errors++;
      this.secondErrors++;
    }
  }

  private closeSecond(): void {
    const point: TimelinePoint = {
      t: this.timeline.length + 1,
      rps: this.secondCount,
      p50_ms: this.secondCount ? this.second.percentile(50) / US_PER_MS : 0,
      p99_ms: this.secondCount ? this.second.percentile(99) / US_PER_MS : 0,
      errors: this.secondErrors,
    };
    this.timeline.push(point);
    this.onTick?.({
      elapsedS: Math.min(this.totalS, (performance.now() - this.startedAt) / 1000),
      totalS: this.totalS,
      rps: point.rps,
      p99Ms: point.p99_ms,
      errors: this.errors,
    });
    this.second.reset();
    this.secondCount = 0;
    this.secondErrors = 0;
  }

  finish(): LoadResult {
    clearInterval(this.ticker);
    this.ticker = undefined;
    // The last, partial second too: a run's timeline covers every request it made (a one-second run on
    // a slow machine ended before its first tick and had none).
    if (this.secondCount > 0) this.closeSecond();
    return {
      requests: this.requests,
      errors: this.errors,
      statuses: this.statuses,
      durationS: (performance.now() - this.startedAt) / 1000,
      histogram: this.histogram,
      timeline: this.timeline,
    };
  }
}

const dispatcherOptions = (timeoutMs: number) => ({
  pipelining: 1,
  // Hold connections for the whole run (undici's default closes a socket idle for 4 s).
  keepAliveTimeout: 600_000,
  keepAliveMaxTimeout: 600_000,
  headersTimeout: timeoutMs,
  bodyTimeout: timeoutMs,
  connectTimeout: timeoutMs,
});

/**
 * Send one request on `dispatcher`; with `rec`, record it against the time it was due (without, it is
 * not measured: opening a connection). True when the answer had an expected status.
 */
async function send(
  dispatcher: Dispatcher,
  spec: RequestSpec,
  dueAt: number,
  rec?: Recorder,
): Promise<boolean> {
  try {
    const res = await dispatcher.request({
      method: spec.method,
      path: spec.path,
      headers: spec.headers,
      body: spec.body ?? null,
    });
    const ok = spec.expect.includes(res.statusCode);
    if (ok && spec.onBody) spec.onBody(await res.body.text());
    else await res.body.dump();
    rec?.record(dueAt, res.statusCode, ok);
    return ok;
  } catch {
    rec?.record(dueAt, 'error', false);
    return false;
  } finally {
    spec.onDone?.();
  }
}

/** `connections` loops, each sending back to back for `durationS`. */
export async function closedLoop(opts: CommonOptions & { connections: number }): Promise<LoadResult> {
  const pool = new Pool(opts.origin, {
    connections: opts.connections,
    ...dispatcherOptions(opts.timeoutMs ?? 10_000),
  });
  const rec = new Recorder(opts.durationS, opts.onTick);
  const endAt = performance.now() + opts.durationS * 1000;
  const loop = async () => {
    while (performance.now() < endAt) await send(pool, opts.next(), performance.now(), rec);
  };
  await Promise.all(Array.from({ length: opts.connections }, loop));
  const result = rec.finish();
  await pool.close();
  return result;
}

/**
 * Requests due every 1/rate s for `durationS`, over at most `connections` connections. A request that
 * finds every connection busy waits in the client's queue, and that wait counts in its latency.
 */
export async function openLoop(
  opts: CommonOptions & { connections: number; rate: number; maxOutstanding?: number },
): Promise<LoadResult> {
  const pool = new Pool(opts.origin, {
    connections: opts.connections,
    ...dispatcherOptions(opts.timeoutMs ?? 10_000),
  });
  const rec = new Recorder(opts.durationS, opts.onTick);
  const interval = 1000 / opts.rate;
  const start = performance.now();
  const endAt = start + opts.durationS * 1000;
  const maxOutstanding = opts.maxOutstanding ?? 20_000;
  const inFlight = new Set<Promise<boolean>>();
  let due = start;
  while (due < endAt) {
    const now = performance.now();
    while (due <= now && due < endAt) {
      if (inFlight.size >= maxOutstanding) {
        // The server is so far behind that holding more requests would measure the client's memory:
        // count the arrival as failed (it would have waited at least this long anyway).
        rec.record(due, 'error', false);
      } else {
        const p = send(pool, opts.next(), due, rec).finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      due += interval;
    }
    // Timers have ~1 ms resolution: sleep to the next arrival, then send everything that fell due.
    await sleep(Math.max(0, Math.min(due, endAt) - performance.now()));
  }
  await Promise.all(inFlight);
  const result = rec.finish();
  await pool.close();
  return result;
}

/**
 * `connections` separate connections, all opened first (ramped over `rampS`), then each sending one
 * request every `intervalS` with its own random phase: an open loop per connection. A request that
 * falls due while the previous one on its connection is still out waits, and the wait counts.
 */
export async function perConnectionLoop(
  opts: CommonOptions & {
    connections: number;
    intervalS: number;
    rampS: number;
    onOpened?: (n: number) => void;
  },
): Promise<LoadResult & { opened: number; failedToOpen: number }> {
  const clients: Client[] = [];
  let opened = 0;
  let failedToOpen = 0;
  // Open every connection with one request each, at an even pace over the ramp.
  const perBatch = Math.max(1, Math.ceil(opts.connections / Math.max(1, opts.rampS * 20)));
  const opening: Promise<void>[] = [];
  for (let i = 0; i < opts.connections; i += perBatch) {
    for (let j = i; j < Math.min(opts.connections, i + perBatch); j++) {
      const client = new Client(opts.origin, dispatcherOptions(opts.timeoutMs ?? 10_000));
      clients.push(client);
      opening.push(
        send(client, opts.next(), performance.now()).then((ok) => {
          if (ok) opened++;
          else failedToOpen++;
        }),
      );
    }
    opts.onOpened?.(opened);
    await sleep(50);
  }
  await Promise.all(opening);
  opts.onOpened?.(opened);

  const rec = new Recorder(opts.durationS, opts.onTick);
  const start = performance.now();
  const endAt = start + opts.durationS * 1000;
  const intervalMs = opts.intervalS * 1000;
  await Promise.all(
    clients.map(async (client) => {
      let due = start + Math.random() * intervalMs;
      const pending: Promise<boolean>[] = [];
      while (due < endAt) {
        await sleep(Math.max(0, due - performance.now()));
        // Not awaited: if the previous request is slow this one queues on the same connection.
        pending.push(send(client, opts.next(), due, rec));
        due += intervalMs;
      }
      await Promise.all(pending);
    }),
  );
  const result = rec.finish();
  await Promise.all(clients.map((c) => c.close()));
  return { ...result, opened, failedToOpen };
}

/** Summary numbers of a histogram in milliseconds. */
export function latencyMs(h: RecordableHistogram): { p50: number; p95: number; p99: number; max: number } {
  if (h.count === 0) return { p50: 0, p95: 0, p99: 0, max: 0 };
  return {
    p50: h.percentile(50) / US_PER_MS,
    p95: h.percentile(95) / US_PER_MS,
    p99: h.percentile(99) / US_PER_MS,
    max: h.max / US_PER_MS,
  };
}
