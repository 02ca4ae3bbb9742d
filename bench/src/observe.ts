// What the benchmark reads off the running system around each measurement: CPU time per kind of process
// (from /proc, every process of the bench's stacks found by its TASKFLEET_STACK marker), the task
// service's cache and read-routing counters (its /metrics), and nginx's open connections (stub_status).
import { readdirSync, readFileSync } from 'node:fs';
import { processesOfStacks, readState } from '@taskfleet/infra';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** Which kind of process a command line is: the unit CPU is reported in. */
export function processKind(command: string): string {
  const service = /(?:services\/(\w+)|(gateway))\/src\/server\.ts/.exec(command);
  if (service) return service[1] ?? service[2]!;
  if (command.includes('hello-server')) return 'hello';
  if (/^postgres|^\/usr\/lib\/postgresql/.test(command)) return 'postgres';
  if (command.includes('pgbouncer')) return 'pgbouncer';
  if (command.includes('redis-server')) return 'redis';
  if (/beam|erl_child_setup|epmd|inet_gethost|rabbitmq/.test(command)) return 'rabbitmq';
  if (/^nginx|\/nginx /.test(command)) return 'nginx';
  if (/prometheus|alertmanager/.test(command)) return 'monitoring';
  if (command.includes('watchdog')) return 'watchdog';
  return 'other';
}

function cpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined; // gone
  }
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
}

/**
 * Every process of the stacks under `stackPrefix` with its kind: the processes that carry the stack's
 * marker, the ones their state files record, and all their descendants (postgres backends and nginx
 * workers rewrite their process title over the environment, so the marker alone misses them).
 */
function stackProcesses(stackPrefix: string, stateDirs: readonly string[]): Map<number, string> {
  const kinds = new Map<number, string>();
  for (const p of processesOfStacks(stackPrefix)) kinds.set(p.pid, processKind(p.command));
  for (const dir of stateDirs) {
    for (const c of readState(dir)?.components ?? []) kinds.set(c.pid, processKind(commandOf(c.pid)));
  }
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const parent = parentOf(pid);
    if (parent !== undefined) parents.set(pid, parent);
  }
  for (const pid of parents.keys()) {
    if (kinds.has(pid)) continue;
    for (let up = parents.get(pid); up !== undefined && up > 1; up = parents.get(up)) {
      const kind = kinds.get(up);
      if (kind !== undefined) {
        kinds.set(pid, kind);
        break;
      }
    }
  }
  return kinds;
}

export interface CpuSnapshot {
  at: number;
  byPid: Map<number, { kind: string; ticks: number }>;
  client: NodeJS.CpuUsage;
}

/** CPU used so far by every process of the stacks under `stackPrefix`, and by this process (the client). */
export function cpuSnapshot(stackPrefix: string, stateDirs: readonly string[]): CpuSnapshot {
  const byPid = new Map<number, { kind: string; ticks: number }>();
  for (const [pid, kind] of stackProcesses(stackPrefix, stateDirs)) {
    const ticks = cpuTicks(pid);
    if (ticks !== undefined) byPid.set(pid, { kind, ticks });
  }
  return { at: performance.now(), byPid, client: process.cpuUsage() };
}

/** Cores used by each kind between two snapshots (1.0 = one core busy the whole time). */
export function cpuCores(before: CpuSnapshot, after: CpuSnapshot, extra: Record<string, number> = {}) {
  const seconds = (after.at - before.at) / 1000;
  const cores: Record<string, number> = {};
  const add = (kind: string, cpuSeconds: number) => {
    cores[kind] = (cores[kind] ?? 0) + cpuSeconds / seconds;
  };
  for (const [pid, now] of after.byPid) {
    // A process born during the run counts from zero.
    add(now.kind, (now.ticks - (before.byPid.get(pid)?.ticks ?? 0)) / TICKS_PER_SECOND);
  }
  add('client', (after.client.user + after.client.system - before.client.user - before.client.system) / 1e6);
  for (const [kind, cpuSeconds] of Object.entries(extra)) add(kind, cpuSeconds);
  const rounded: Record<string, number> = {};
  for (const [kind, v] of Object.entries(cores).sort((a, b) => b[1] - a[1])) {
    if (kind !== 'watchdog' && v >= 0.005) rounded[kind] = Math.round(v * 100) / 100;
  }
  return rounded;
}

/** Sum of each counter sample (name plus labels) across the Prometheus text of several targets. */
export async function scrapeCounters(urls: readonly string[]): Promise<Map<string, number>> {
  const totals = new Map<string, number>();
  await Promise.all(
    urls.map(async (url) => {
      const text = await (await fetch(url)).text();
      for (const line of text.split('\n')) {
        if (line.startsWith('#') || line === '') continue;
        const space = line.lastIndexOf(' ');
        const key = line.slice(0, space);
        const value = Number(line.slice(space + 1));
        if (Number.isFinite(value)) totals.set(key, (totals.get(key) ?? 0) + value);
      }
    }),
  );
  return totals;
}

const sumMatching = (m: Map<string, number>, prefix: string, ...labels: string[]) => {
  let total = 0;
  for (const [key, value] of m) {
    if (key.startsWith(prefix) && labels.every((l) => key.includes(l))) total += value;
  }
  return total;
};

/** Cache hit ratio and replica share of database reads between two scrapes of the task service. */
export function taskServiceRatios(before: Map<string, number>, after: Map<string, number>) {
  const delta = (prefix: string, ...labels: string[]) =>
    sumMatching(after, prefix, ...labels) - sumMatching(before, prefix, ...labels);
  // Every lookup starts in L1: L1 hits + L1 misses = lookups; a hit is one in either layer.
  const lookups =
    delta('tasks_cache_hits_total{', 'layer="l1"') + delta('tasks_cache_misses_total{', 'layer="l1"');
  const hits = delta('tasks_cache_hits_total{');
  const reads = delta('tasks_db_reads_total{');
  const replicaReads = delta('tasks_db_reads_total{', 'target="replica"');
  return {
    cacheHitRatio: lookups > 0 ? hits / lookups : undefined,
    replicaReadShare: reads > 0 ? replicaReads / reads : undefined,
  };
}

/** nginx's open client connections (stub_status "Active connections"). */
export async function nginxActiveConnections(statusUrl: string): Promise<number> {
  const text = await (await fetch(statusUrl)).text();
  return Number(/Active connections:\s*(\d+)/.exec(text)?.[1] ?? 0);
}

/** Poll `sample` every second until stopped; returns the largest value seen. */
export function peakOf(sample: () => Promise<number>): { stop(): Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, await sample().catch(() => 0));
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return peak;
    },
  };
}
