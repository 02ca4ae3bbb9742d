// The decision function's properties, over generated policies and observation sequences (fast-check):
// bounds always hold, scaling waits for its window and its cooldown, noise never scales, a load that
// stays high scales once per cooldown, and a count someone else set is adopted.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Decision, Observation, Policy, ScalerState } from '../../src/policy.ts';
import { DEFAULT_POLICY, decide, notApplied, REASONS, refused } from '../../src/policy.ts';

const S = 1000;
const INTERVAL = 15 * S;
const MAX_GAP = 3 * INTERVAL;

/** A valid policy: min ≤ max, 0 < down < up ≤ 1, steps ≥ 1, periods and cooldowns of seconds to minutes. */
const policyArb: fc.Arbitrary<Policy> = fc
  .record({
    min: fc.integer({ min: 0, max: 10 }),
    span: fc.integer({ min: 0, max: 40 }),
    up: fc.integer({ min: 2, max: 100 }),
    downShare: fc.double({ min: 0.05, max: 0.95, noNaN: true }),
    upPeriod: fc.integer({ min: 0, max: 600 }),
    upCooldown: fc.integer({ min: 0, max: 900 }),
    upStep: fc.integer({ min: 1, max: 5 }),
    downPeriod: fc.integer({ min: 0, max: 900 }),
    downCooldown: fc.integer({ min: 0, max: 1200 }),
    downStep: fc.integer({ min: 1, max: 5 }),
  })
  .map((r) => ({
    ...DEFAULT_POLICY,
    min: r.min,
    max: Math.max(1, r.min + r.span),
    upThreshold: r.up / 100,
    downThreshold: (r.up / 100) * r.downShare,
    upPeriodMs: r.upPeriod * S,
    upCooldownMs: r.upCooldown * S,
    upStep: r.upStep,
    downPeriodMs: r.downPeriod * S,
    downCooldownMs: r.downCooldown * S,
    downStep: r.downStep,
  }));

/** One step of the world: time passes, maybe someone scales, maybe an update runs, a load (or none). */
interface Step {
  dtMs: number;
  load: number | undefined;
  updating: boolean;
  manual: number | undefined;
}
const stepArb: fc.Arbitrary<Step> = fc.record({
  dtMs: fc.integer({ min: 1, max: 120 }).map((s) => s * S),
  load: fc.option(fc.double({ min: 0, max: 3, noNaN: true }), { freq: 8, nil: undefined }),
  updating: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
  manual: fc.option(fc.integer({ min: 0, max: 60 }), { freq: 15, nil: undefined }),
});

interface Record_ {
  now: number;
  obs: Observation;
  decision: Decision;
}

/** Runs the decision loop over the steps, applying each decision (the orchestrator obeys). */
function simulate(policy: Policy, start: number, steps: Step[], opts: { dryRun?: boolean } = {}): Record_[] {
  let replicas = start;
  let state: ScalerState = {};
  let now = 0;
  const history: Record_[] = [];
  for (const step of steps) {
    now += step.dtMs;
    if (step.manual !== undefined) replicas = step.manual;
    const obs: Observation = {
      now,
      replicas,
      updating: step.updating,
      load: step.load,
      maxGapMs: MAX_GAP,
    };
    const outcome = decide(policy, state, obs);
    history.push({ now, obs, decision: outcome.decision });
    if (outcome.decision.action !== 'hold' && !opts.dryRun) {
      replicas = outcome.decision.to;
      state = outcome.state;
    } else state = outcome.decision.action === 'hold' ? outcome.state : notApplied(outcome);
  }
  return history;
}

const steady = (load: number | undefined, count: number, dtMs = INTERVAL): Step[] =>
  Array.from({ length: count }, () => ({ dtMs, load, updating: false, manual: undefined }));

const loadDriven = (d: Decision) => d.reason === 'above-threshold' || d.reason === 'below-threshold';

describe('decide: properties', () => {
  it('keeps every decision inside [min, max] and never scales a service mid-update', () => {
    fc.assert(
      fc.property(
        policyArb,
        fc.integer({ min: 0, max: 60 }),
        fc.array(stepArb, { maxLength: 200 }),
        (policy, start, steps) => {
          for (const { obs, decision } of simulate(policy, start, steps)) {
            expect(REASONS).toContain(decision.reason);
            expect(decision.from).toBe(obs.replicas);
            if (obs.updating) {
              expect(decision).toMatchObject({ action: 'hold', reason: 'updating', to: obs.replicas });
              continue;
            }
            expect(decision.to).toBeGreaterThanOrEqual(policy.min);
            expect(decision.to).toBeLessThanOrEqual(policy.max);
            if (decision.action === 'hold') expect(decision.to).toBe(decision.from);
            if (decision.action === 'up') expect(decision.to).toBeGreaterThan(decision.from);
            if (decision.action === 'down') expect(decision.to).toBeLessThan(decision.from);
            // A load-driven step is never bigger than the policy's step.
            if (decision.reason === 'above-threshold')
              expect(decision.to - decision.from).toBeLessThanOrEqual(policy.upStep);
            if (decision.reason === 'below-threshold')
              expect(decision.from - decision.to).toBeLessThanOrEqual(policy.downStep);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('scales on load only after an unbroken window of the period, and not within a cooldown', () => {
    fc.assert(
      fc.property(
        policyArb,
        fc.integer({ min: 0, max: 60 }),
        fc.array(stepArb, { maxLength: 200 }),
        (policy, start, steps) => {
          const history = simulate(policy, start, steps);
          let lastAction: { now: number; cooldownMs: number } | undefined;
          history.forEach(({ now, decision }, i) => {
            if (decision.action === 'hold' && decision.reason !== 'manual-scale') return;
            if (loadDriven(decision)) {
              const up = decision.reason === 'above-threshold';
              const period = up ? policy.upPeriodMs : policy.downPeriodMs;
              // Every observation of the window [now - period, now], and the one just before it, is on
              // the same side of the threshold, with data, not mid-update, with no gap.
              for (let j = i; j >= 0; j--) {
                const o = history[j]!.obs;
                expect(o.load).toBeDefined();
                expect(o.updating).toBe(false);
                if (up) expect(o.load!).toBeGreaterThan(policy.upThreshold);
                else expect(o.load!).toBeLessThan(policy.downThreshold);
                if (j < i) expect(history[j + 1]!.now - o.now).toBeLessThanOrEqual(MAX_GAP);
                if (now - o.now >= period) break;
                expect(j, 'a window as long as the period').toBeGreaterThan(0);
              }
              if (lastAction) expect(now - lastAction.now).toBeGreaterThanOrEqual(lastAction.cooldownMs);
            }
            const cooldownMs =
              decision.reason === 'manual-scale'
                ? Math.max(policy.upCooldownMs, policy.downCooldownMs)
                : decision.action === 'up'
                  ? policy.upCooldownMs
                  : policy.downCooldownMs;
            lastAction = { now, cooldownMs };
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never scales while the load jitters between the thresholds', () => {
    fc.assert(
      fc.property(
        policyArb,
        fc.integer({ min: 0, max: 60 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 300 }),
        (policy, start, jitter) => {
          const replicas = Math.min(policy.max, Math.max(policy.min, start));
          const steps = jitter.map((x) => ({
            dtMs: INTERVAL,
            load: policy.downThreshold + x * (policy.upThreshold - policy.downThreshold),
            updating: false,
            manual: undefined,
          }));
          for (const { decision } of simulate(policy, replicas, steps)) expect(decision.action).toBe('hold');
        },
      ),
      { numRuns: 200 },
    );
  });

  it('never scales up on noise above the threshold that lasts less than the period each time', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 60 }),
        fc.array(
          fc.record({
            // Bursts above the threshold shorter than the 60 s period (at most 3 samples 15 s apart:
            // 45 s from first to last), then at least one sample back in the band.
            above: fc.array(fc.double({ min: 0.81, max: 5, noNaN: true }), { minLength: 1, maxLength: 4 }),
            calm: fc.array(fc.double({ min: 0.3, max: 0.8, noNaN: true }), { minLength: 1, maxLength: 4 }),
          }),
          { maxLength: 80 },
        ),
        (start, bursts) => {
          const replicas = Math.min(50, Math.max(3, start));
          const loads = bursts.flatMap((b) => [...b.above, ...b.calm]);
          const steps = loads.map((load) => ({ dtMs: INTERVAL, load, updating: false, manual: undefined }));
          for (const { decision } of simulate(DEFAULT_POLICY, replicas, steps))
            expect(decision.action).toBe('hold');
        },
      ),
      { numRuns: 200 },
    );
  });

  it('scales a load that stays high exactly once per cooldown, up to the maximum', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 10, max: 400 }),
        fc.double({ min: 0.81, max: 10, noNaN: true }),
        (count, load) => {
          const history = simulate(DEFAULT_POLICY, 3, steady(load, count));
          const ups = history.filter((h) => h.decision.action === 'up');
          expect(history.some((h) => h.decision.action === 'down')).toBe(false);
          // The first once the 60 s period has passed since the first sample (at 15 s), then one each
          // 300 s cooldown (on the 15 s grid: exactly).
          const first = 15 * S + 60 * S;
          const expected = history
            .map((h) => h.now)
            .filter((t) => t >= first && (t - first) % (300 * S) === 0)
            .slice(0, Math.ceil((50 - 3) / 2));
          expect(ups.map((u) => u.now)).toEqual(expected);
          let replicas = 3;
          for (const u of ups) {
            expect(u.decision.from).toBe(replicas);
            replicas = Math.min(50, replicas + 2);
            expect(u.decision.to).toBe(replicas);
          }
        },
      ),
    );
  });

  it('scales a load that stays low down by one per cooldown, to the minimum', () => {
    const history = simulate(DEFAULT_POLICY, 10, steady(0.05, 400));
    const downs = history.filter((h) => h.decision.action === 'down');
    expect(downs.map((d) => [d.now / S, d.decision.to])).toEqual([
      [315, 9],
      [915, 8],
      [1515, 7],
      [2115, 6],
      [2715, 5],
      [3315, 4],
      [3915, 3],
    ]);
    expect(history.at(-1)!.decision).toMatchObject({ action: 'hold', reason: 'at-minimum' });
  });

  it('adopts a count someone else set and holds for the longer cooldown', () => {
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 50 }), fc.integer({ min: 3, max: 50 }), (before, after) => {
        fc.pre(before !== after);
        // Steady in-band load; at 5 min a person scales; then the load goes high.
        const steps: Step[] = [
          ...steady(0.5, 20),
          { dtMs: INTERVAL, load: 0.5, updating: false, manual: after },
          ...steady(2, 60),
        ];
        const history = simulate(DEFAULT_POLICY, before, steps);
        const manual = history.findIndex((h) => h.decision.reason === 'manual-scale');
        expect(manual).toBe(20);
        const adoptedAt = history[manual]!.now;
        for (const h of history.slice(manual + 1))
          if (h.now - adoptedAt < 600 * S) expect(h.decision.action).toBe('hold');
        // Still high after the cooldown: it scales up from the person's count (unless at the maximum).
        const firstUp = history.find((h) => h.decision.action === 'up');
        if (after < 50) expect(firstUp?.decision).toMatchObject({ from: after, to: Math.min(50, after + 2) });
        if (after < 50) expect(firstUp?.now).toBe(adoptedAt + 600 * S);
      }),
    );
  });

  it('a dry run decides at the pace of a live one, and never takes its own decision for a person', () => {
    const history = simulate(DEFAULT_POLICY, 3, steady(2, 100), { dryRun: true });
    const ups = history.filter((h) => h.decision.action === 'up').map((h) => h.now / S);
    expect(ups).toEqual([75, 375, 675, 975, 1275]);
    expect(history.some((h) => h.decision.reason === 'manual-scale')).toBe(false);
    expect(history.every((h) => h.decision.from === 3)).toBe(true);
  });
});

describe('decide: cases', () => {
  const at = (now: number, load: number | undefined, replicas = 5, updating = false): Observation => ({
    now: now * S,
    load,
    replicas,
    updating,
    maxGapMs: MAX_GAP,
  });

  it('raises a service found below its minimum, whatever the load, data or cooldown', () => {
    const state: ScalerState = { baseline: 3, cooldownUntil: 10_000 * S };
    expect(decide(DEFAULT_POLICY, state, at(0, undefined, 1)).decision).toEqual({
      action: 'up',
      from: 1,
      to: 3,
      reason: 'below-minimum',
    });
    expect(decide(DEFAULT_POLICY, {}, at(0, 0.01, 80)).decision).toMatchObject({
      action: 'down',
      to: 50,
      reason: 'above-maximum',
    });
  });

  it('holds without data, and the window starts again when data is back', () => {
    let { state } = decide(DEFAULT_POLICY, {}, at(0, 2));
    ({ state } = decide(DEFAULT_POLICY, state, at(45, 2)));
    const none = decide(DEFAULT_POLICY, state, at(50, undefined));
    expect(none.decision.reason).toBe('no-data');
    state = none.state;
    for (const t of [60, 75, 90, 105]) {
      const d = decide(DEFAULT_POLICY, state, at(t, 2));
      expect(d.decision.reason).toBe('stabilising');
      state = d.state;
    }
    expect(decide(DEFAULT_POLICY, state, at(120, 2)).decision.action).toBe('up');
  });

  it('does not trust a window it did not watch (a gap longer than maxGap)', () => {
    const { state } = decide(DEFAULT_POLICY, {}, at(0, 2));
    expect(decide(DEFAULT_POLICY, state, at(100, 2)).decision.reason).toBe('stabilising');
  });

  it('holds mid-update and, after it, takes a changed count for a decision of its own', () => {
    let { state } = decide(DEFAULT_POLICY, {}, at(0, 0.5, 5));
    const during = decide(DEFAULT_POLICY, state, at(15, 2, 8, true));
    expect(during.decision).toMatchObject({ action: 'hold', reason: 'updating' });
    ({ state } = during);
    expect(decide(DEFAULT_POLICY, state, at(30, 2, 8)).decision.reason).toBe('manual-scale');
  });

  it('after a refused scale: no cooldown, the count read kept, so a count set meanwhile is seen as a person’s', () => {
    const p = { ...DEFAULT_POLICY, upPeriodMs: 0 };
    const first = decide(p, {}, at(0, 2, 5));
    expect(first.decision).toMatchObject({ action: 'up', to: 7 });
    const kept = refused({}, first);
    expect(kept).toEqual({ baseline: 5 });
    // Nobody changed it: the next pass scales (no cooldown was started by the refused write).
    expect(decide(p, kept, at(15, 2, 5)).decision).toMatchObject({ action: 'up', to: 7 });
    // Someone set 6 meanwhile: theirs.
    expect(decide(p, kept, at(15, 2, 6)).decision.reason).toBe('manual-scale');
  });

  it('says why it holds: at-maximum, at-minimum, in-band', () => {
    const p = { ...DEFAULT_POLICY, upPeriodMs: 0, downPeriodMs: 0 };
    expect(decide(p, {}, at(0, 2, 50)).decision.reason).toBe('at-maximum');
    expect(decide(p, {}, at(0, 0.1, 3)).decision.reason).toBe('at-minimum');
    expect(decide(p, {}, at(0, 0.5, 5)).decision.reason).toBe('in-band');
    expect(decide(p, {}, at(0, 2, 49)).decision).toMatchObject({ action: 'up', to: 50 });
  });
  it('scales a quiet service down whatever its memory (which doesn’t fall with fewer replicas)', () => {
    const p = { ...DEFAULT_POLICY, downPeriodMs: 0 };
    // Memory at 65 % of its target keeps `load` in band; CPU and requests say fewer would do.
    expect(decide(p, {}, { ...at(0, 0.65, 6), downLoad: 0.05 }).decision).toMatchObject({
      action: 'down',
      to: 5,
      reason: 'below-threshold',
    });
    // Memory above the scale-up threshold asks for more, even with no work at all.
    expect(decide({ ...p, upPeriodMs: 0 }, {}, { ...at(0, 0.9, 6), downLoad: 0.05 }).decision).toMatchObject({
      action: 'up',
    });
  });
});
