// A service's policy from its labels (Swarm service labels, or the native driver's settings in the same
// form): `taskfleet.autoscale.<key>=<value>`, every key optional (seed 004's numbers by default).
// Durations are `60s`, `5m`, `1h` or `500ms`; fractions `0.7` or `70%`. Every problem is reported, not
// only the first, so a service with three bad labels is fixed in one go.
import type { Policy } from './policy.ts';
import { DEFAULT_POLICY } from './policy.ts';

export const LABEL_PREFIX = 'taskfleet.autoscale';
/** `taskfleet.autoscale=true` puts a service under the autoscaler; `false` (or none) leaves it alone. */
export const ENABLE_LABEL = LABEL_PREFIX;
export const JOB_LABEL = `${LABEL_PREFIX}.job`;

type Kind = 'count' | 'fraction' | 'duration' | 'rate';
/** Label key → the policy field it sets, and how its value is written. */
const KEYS: Record<string, { field: keyof Policy; kind: Kind }> = {
  min: { field: 'min', kind: 'count' },
  max: { field: 'max', kind: 'count' },
  'target-cpu': { field: 'targetCpu', kind: 'fraction' },
  'target-memory': { field: 'targetMemory', kind: 'fraction' },
  'target-rps': { field: 'targetRps', kind: 'rate' },
  'up-threshold': { field: 'upThreshold', kind: 'fraction' },
  'up-period': { field: 'upPeriodMs', kind: 'duration' },
  'up-cooldown': { field: 'upCooldownMs', kind: 'duration' },
  'up-step': { field: 'upStep', kind: 'count' },
  'down-threshold': { field: 'downThreshold', kind: 'fraction' },
  'down-period': { field: 'downPeriodMs', kind: 'duration' },
  'down-cooldown': { field: 'downCooldownMs', kind: 'duration' },
  'down-step': { field: 'downStep', kind: 'count' },
};
export const POLICY_LABELS = Object.keys(KEYS).map((k) => `${LABEL_PREFIX}.${k}`);

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds of `60s`, `5m`, `1h`, `500ms`, `1m30s`; undefined when it is none of those. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(s)) return undefined;
  let ms = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(m[1]) * UNITS[m[2]!]!;
  return Math.round(ms);
}

/** `0.7` or `70%` → 0.7; undefined when not a number. */
export function parseFraction(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(text.trim());
  if (!m) return undefined;
  return m[2] ? Number(m[1]) / 100 : Number(m[1]);
}

function parseValue(kind: Kind, text: string): number | string {
  switch (kind) {
    case 'count': {
      const n = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
      return Number.isSafeInteger(n) ? n : `"${text}" is not a whole number`;
    }
    case 'rate': {
      const n = /^\d+(\.\d+)?$/.test(text.trim()) ? Number(text) : Number.NaN;
      return n > 0 ? n : `"${text}" is not a positive number of requests per second`;
    }
    case 'fraction':
      return parseFraction(text) ?? `"${text}" is not a fraction (0.7 or 70%)`;
    case 'duration':
      return parseDuration(text) ?? `"${text}" is not a duration (60s, 5m, 1h)`;
  }
}

/** What is wrong with a policy as a whole (each entry one sentence). */
export function policyProblems(p: Policy): string[] {
  const problems: string[] = [];
  if (p.min > p.max) problems.push(`min ${p.min} is above max ${p.max}`);
  if (p.max < 1) problems.push('max must be at least 1');
  for (const [name, v] of [
    ['target-cpu', p.targetCpu],
    ['target-memory', p.targetMemory],
    ['up-threshold', p.upThreshold],
    ['down-threshold', p.downThreshold],
  ] as const)
    if (!(v > 0 && v <= 1)) problems.push(`${name} ${v} is not in (0, 1]`);
  if (p.downThreshold >= p.upThreshold)
    problems.push(`down-threshold ${p.downThreshold} is not below up-threshold ${p.upThreshold}`);
  if (p.upStep < 1) problems.push('up-step must be at least 1');
  if (p.downStep < 1) problems.push('down-step must be at least 1');
  return problems;
}

export interface ParsedLabels {
  policy: Policy;
  /** Every problem, each prefixed with the label it is about. */
  problems: string[];
}

/** The policy the labels describe, on `defaults`; unknown `taskfleet.autoscale.*` keys are problems too. */
export function policyFromLabels(
  labels: Record<string, string>,
  defaults: Policy = DEFAULT_POLICY,
): ParsedLabels {
  const policy: Policy = { ...defaults };
  const problems: string[] = [];
  for (const [label, text] of Object.entries(labels)) {
    if (!label.startsWith(`${LABEL_PREFIX}.`) || label === JOB_LABEL) continue;
    const key = label.slice(LABEL_PREFIX.length + 1);
    const spec = KEYS[key];
    if (!spec) {
      problems.push(`${label}: unknown label (known: ${Object.keys(KEYS).join(', ')}, job)`);
      continue;
    }
    const value = parseValue(spec.kind, text);
    if (typeof value === 'string') problems.push(`${label}: ${value}`);
    else policy[spec.field] = value;
  }
  // Whole-policy problems only when each value parsed: "min 3 is above max NaN" helps nobody.
  if (problems.length === 0) problems.push(...policyProblems(policy));
  return { policy, problems };
}

/** Whether the labels put the service under the autoscaler: `true`; `false` or absent: no. */
export function autoscaleEnabled(labels: Record<string, string>): boolean | string {
  const v = labels[ENABLE_LABEL];
  if (v === undefined || v === 'false') return false;
  if (v === 'true') return true;
  return `${ENABLE_LABEL}: "${v}" is neither true nor false`;
}
