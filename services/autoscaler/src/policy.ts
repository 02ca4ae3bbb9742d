// The scaling decision, as a pure function: a service's policy, what the autoscaler remembers about it,
// and one observation in; the decision and the new memory out. Time is passed in (no clock here), so
// the property tests can drive hours of decisions in milliseconds. ADR 0014 explains the choices.

/** A service's policy: seed 004 §1.1's numbers by default, each overridable by a label. */
export interface Policy {
  min: number;
  max: number;
  /** Targets: load 1.0 means "at target" (CPU cores used ÷ CPU limit, resident ÷ memory limit, req/s). */
  targetCpu: number;
  targetMemory: number;
  targetRps: number;
  /** Scale up by upStep when load > upThreshold for upPeriodMs on end; then nothing for upCooldownMs. */
  upThreshold: number;
  upPeriodMs: number;
  upCooldownMs: number;
  upStep: number;
  /** Scale down by downStep when load < downThreshold for downPeriodMs on end; then downCooldownMs. */
  downThreshold: number;
  downPeriodMs: number;
  downCooldownMs: number;
  downStep: number;
}

export const DEFAULT_POLICY: Policy = {
  min: 3,
  max: 50,
  targetCpu: 0.7,
  targetMemory: 0.8,
  targetRps: 1000,
  upThreshold: 0.8,
  upPeriodMs: 60_000,
  upCooldownMs: 300_000,
  upStep: 2,
  downThreshold: 0.3,
  downPeriodMs: 300_000,
  downCooldownMs: 600_000,
  downStep: 1,
};

/** What the autoscaler remembers about one service between passes. */
export interface ScalerState {
  /** The replica count it last set, or first saw: any other count (not mid-update) is a person's. */
  baseline?: number;
  /** Since when the load has been above the up threshold (or below the down threshold), unbroken. */
  aboveSince?: number;
  belowSince?: number;
  /** No load-driven scaling before this time. */
  cooldownUntil?: number;
  /** When the last observation was made: a longer gap than `maxGapMs` breaks the windows. */
  observedAt?: number;
}

export interface Observation {
  /** Milliseconds (any epoch; only differences count). */
  now: number;
  /** The replica count the service is set to now. */
  replicas: number;
  /** The orchestrator is updating (or rolling back, or paused mid-update): never touch it then. */
  updating: boolean;
  /** The service's load (the highest signal ÷ its target); undefined when there is no data. */
  load: number | undefined;
  /**
   * The load that says whether fewer replicas would do: the signals that fall as replicas are added
   * (CPU, request rate). A process's resident memory doesn't shrink when it gets less work, so memory
   * may ask for more replicas but can't keep a quiet service from scaling down. Absent: `load`.
   */
  downLoad?: number | undefined;
  /**
   * The longest gap between two observations that still counts as "continuously" (a few loop
   * intervals). A stalled autoscaler must not act on a window it did not watch.
   */
  maxGapMs: number;
}

/** Every reason a decision can give (metrics label values: a closed set). */
export const REASONS = [
  'above-threshold', // up: load above the threshold for the whole period
  'below-threshold', // down: load below the threshold for the whole period
  'below-minimum', // up: found under its minimum (raised whatever the load, cooldown or data)
  'above-maximum', // down: found over its maximum
  'manual-scale', // hold: someone set another replica count; adopted, then the long cooldown
  'updating', // hold: mid-update, rollback or paused update
  'no-data', // hold: no load (Prometheus unreachable, no samples); the windows restart
  'cooldown', // hold: it scaled (or someone did) too recently
  'stabilising', // hold: past a threshold, not yet for the whole period
  'at-maximum', // hold: would scale up, already at its maximum
  'at-minimum', // hold: would scale down, already at its minimum
  'in-band', // hold: between the thresholds
] as const;
export type Reason = (typeof REASONS)[number];
export type Action = 'up' | 'down' | 'hold';
export const ACTIONS: readonly Action[] = ['up', 'down', 'hold'];

export interface Decision {
  action: Action;
  from: number;
  to: number;
  reason: Reason;
}

export interface Outcome {
  state: ScalerState;
  decision: Decision;
}

const clamp = (n: number, policy: Policy) => Math.min(policy.max, Math.max(policy.min, n));

/**
 * One decision. The order: mid-update → hold; outside [min, max] → back inside (safety, whatever the
 * load); a count it did not set → a person's, adopted; no data → hold; then the stabilisation windows
 * and the cooldown decide.
 */
export function decide(policy: Policy, state: ScalerState, obs: Observation): Outcome {
  const { now, replicas } = obs;
  const hold = (reason: Reason, next: ScalerState): Outcome => ({
    state: { ...next, observedAt: now },
    decision: { action: 'hold', from: replicas, to: replicas, reason },
  });
  const scale = (to: number, reason: Reason, cooldownMs: number, next: ScalerState): Outcome => ({
    // The new count is the baseline; the windows restart (the load is about to change).
    state: {
      ...next,
      baseline: to,
      aboveSince: undefined,
      belowSince: undefined,
      cooldownUntil: now + cooldownMs,
      observedAt: now,
    },
    decision: { action: to > replicas ? 'up' : 'down', from: replicas, to, reason },
  });
  const restart: ScalerState = { ...state, aboveSince: undefined, belowSince: undefined };

  // Mid-update: the orchestrator owns the service; its count becomes ours to compare with afterwards
  // only once it is done (a deploy that changed the count is then a person's decision).
  if (obs.updating) return hold('updating', restart);

  const manual = state.baseline !== undefined && replicas !== state.baseline;
  if (replicas < policy.min) return scale(policy.min, 'below-minimum', policy.upCooldownMs, restart);
  if (replicas > policy.max) return scale(policy.max, 'above-maximum', policy.downCooldownMs, restart);
  if (manual)
    return hold('manual-scale', {
      ...restart,
      baseline: replicas,
      cooldownUntil: now + Math.max(policy.upCooldownMs, policy.downCooldownMs),
    });
  const known: ScalerState = { ...state, baseline: replicas };

  // No data, or a gap in the watch: nothing is known about the time in between.
  if (obs.load === undefined || !Number.isFinite(obs.load))
    return hold('no-data', { ...known, aboveSince: undefined, belowSince: undefined });
  const gap = state.observedAt !== undefined && now - state.observedAt > obs.maxGapMs;
  const watched: ScalerState = gap ? { ...known, aboveSince: undefined, belowSince: undefined } : known;

  const above = obs.load > policy.upThreshold;
  const below = !above && (obs.downLoad ?? obs.load) < policy.downThreshold;
  const next: ScalerState = {
    ...watched,
    aboveSince: above ? (watched.aboveSince ?? now) : undefined,
    belowSince: below ? (watched.belowSince ?? now) : undefined,
  };
  // The windows keep running through a cooldown: a load that stays high scales again once it ends.
  if (next.cooldownUntil !== undefined && now < next.cooldownUntil && (above || below))
    return hold('cooldown', next);

  if (above) {
    if (now - next.aboveSince! < policy.upPeriodMs) return hold('stabilising', next);
    if (replicas >= policy.max) return hold('at-maximum', next);
    return scale(clamp(replicas + policy.upStep, policy), 'above-threshold', policy.upCooldownMs, next);
  }
  if (below) {
    if (now - next.belowSince! < policy.downPeriodMs) return hold('stabilising', next);
    if (replicas <= policy.min) return hold('at-minimum', next);
    return scale(clamp(replicas - policy.downStep, policy), 'below-threshold', policy.downCooldownMs, next);
  }
  return hold('in-band', next);
}

/**
 * The state to keep when a decision to scale was not carried out (dry run, or the update refused):
 * the windows and cooldown as decided — a dry run then decides at the pace a live run would — but the
 * count left as it is, so the next pass doesn't take its own unapplied decision for a person's.
 */
export const notApplied = (outcome: Outcome): ScalerState => ({
  ...outcome.state,
  baseline: outcome.decision.from,
});

/**
 * The state to keep when a scale was refused or failed: as before the decision — no cooldown for a
 * change that did not happen — but with the count as it was read, so a count someone set meanwhile is
 * seen as theirs on the next read (also on the very first pass, when there was no baseline yet).
 */
export const refused = (previous: ScalerState, outcome: Outcome): ScalerState => ({
  ...previous,
  baseline: outcome.decision.from,
});
