// `bench hops`: where a cached read's CPU goes, hop by hop. The same hot reads are sent to nginx (the
// whole path), straight to one gateway, and straight to one task-service replica, on a bench stack kept
// running with --keep; each line gives the rate and the CPU microseconds per request of every kind of
// process. The difference between lines is the cost of a hop.
import type { StackState } from '@taskfleet/infra';
import { closedLoop } from './load.ts';
import { cpuCores, cpuSnapshot } from './observe.ts';
import type { Workload } from './scenarios.ts';

export interface HopCost {
  target: string;
  rps: number;
  errors: number;
  /** CPU µs per request by process kind. */
  cpuUsPerRequest: Record<string, number>;
}

export async function measureHops(opts: {
  state: StackState;
  stackPrefix: string;
  workload: Workload;
  durationS: number;
  connections: number;
  rounds: number;
}): Promise<HopCost[]> {
  const { state } = opts;
  const first = (service: string) =>
    state.endpoints.services?.find((s) => s.service === service && s.index === 1);
  const gateway = first('gateway');
  const tasks = first('tasks');
  if (!gateway || !tasks) throw new Error('the bench stack runs no services');
  const targets: [string, string][] = [
    ['nginx → gateways → tasks', `http://${state.endpoints.nginx.host}:${state.endpoints.nginx.httpPort}`],
    ['gateway-1 → tasks', `http://${gateway.host}:${gateway.port}`],
    ['tasks-1', `http://${tasks.host}:${tasks.port}`],
  ];
  const results: HopCost[] = [];
  // The first round warms the caches; the last is reported.
  for (let round = 0; round < opts.rounds; round++) {
    results.length = 0;
    for (const [target, origin] of targets) {
      const before = cpuSnapshot(opts.stackPrefix, [state.dir]);
      const r = await closedLoop({
        origin,
        durationS: opts.durationS,
        connections: opts.connections,
        next: () => opts.workload.readHot(),
      });
      const cores = cpuCores(before, cpuSnapshot(opts.stackPrefix, [state.dir]));
      const rps = r.requests / r.durationS;
      const cpuUsPerRequest = Object.fromEntries(
        Object.entries(cores).map(([kind, c]) => [kind, Math.round((c / rps) * 1e6)]),
      );
      results.push({ target, rps: Math.round(rps), errors: r.errors, cpuUsPerRequest });
    }
  }
  return results;
}

export function renderHops(hops: readonly HopCost[]): string {
  const lines = ['target                       req/s  errors  CPU µs per request (by process kind)'];
  for (const h of hops) {
    const cpu = Object.entries(h.cpuUsPerRequest)
      .filter(([, us]) => us >= 5)
      .map(([kind, us]) => `${kind} ${us}`)
      .join(', ');
    lines.push(
      `${h.target.padEnd(26)} ${String(h.rps).padStart(7)}  ${String(h.errors).padStart(6)}  ${cpu}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
