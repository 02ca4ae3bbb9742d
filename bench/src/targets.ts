// Ratios against the ceilings and the targets of docs/performance.md, computed from a run's measurements.
import type { Profile } from './profiles.ts';
import type { Measurement, Target } from './results.ts';

/** Which ceiling each scenario's maximum throughput is compared with. */
export const RATIO_PAIRS: readonly [scenario: string, ceiling: string][] = [
  ['read-hot', 'ceiling-proxy-hello'],
  ['read-list', 'ceiling-proxy-hello'],
  ['mixed', 'ceiling-proxy-hello'],
  ['write-create', 'ceiling-pg-write'],
  ['read-hot', 'ceiling-pg-read'],
];

const closed = (ms: readonly Measurement[], name: string) =>
  ms.find((m) => m.name === name && m.mode === 'closed');

export function ratiosOf(ms: readonly Measurement[]): Record<string, number> {
  const ratios: Record<string, number> = {};
  for (const [scenario, ceiling] of RATIO_PAIRS) {
    const s = closed(ms, scenario);
    const c = closed(ms, ceiling);
    if (s && c && c.rps > 0) ratios[`${scenario}/${ceiling}`] = Math.round((s.rps / c.rps) * 1000) / 1000;
  }
  return ratios;
}

export const P99_TARGET_MS = 50;

export function targetsOf(ms: readonly Measurement[], profile: Profile): Target[] {
  const targets: Target[] = [];
  const ratios = ratiosOf(ms);
  const ratioTarget = (name: string, key: string, goal: number) => {
    const value = ratios[key];
    if (value === undefined) return;
    targets.push({ name, goal: `≥ ${goal} × (${key})`, measured: value.toFixed(2), met: value >= goal });
  };
  ratioTarget('cached reads through the full stack', 'read-hot/ceiling-proxy-hello', 0.5);
  ratioTarget('creates', 'write-create/ceiling-pg-write', 0.7);
  for (const m of ms.filter(
    (x) => x.kind === 'scenario' && x.mode === 'open' && x.name !== 'connections-10k',
  )) {
    targets.push({
      name: `${m.name}: p99 at half the maximum rate`,
      goal: `< ${P99_TARGET_MS} ms at ${m.target_rps} req/s`,
      measured: `${m.p99_ms.toFixed(1)} ms`,
      met: m.p99_ms < P99_TARGET_MS && m.errors === 0,
    });
  }
  const many = ms.find((m) => m.name === 'connections-10k');
  if (many) {
    targets.push({
      name: `${profile.manyConnections.toLocaleString('en')} concurrent connections`,
      goal: '0 errors, all connections open at once',
      measured: `${many.errors} errors, nginx saw ${many.peak_connections ?? 0} open`,
      met: many.errors === 0 && (many.peak_connections ?? 0) >= profile.manyConnections,
    });
  }
  return targets;
}
