// One pass over every managed service: list them as they are now, read Prometheus once for all, decide
// each with the pure policy (policy.ts), carry out what changes a count (never in a dry run), and put
// every decision with its reason in the metrics and the log. The memory of each service (its windows,
// cooldown and baseline) lives here between passes; a service that leaves the listing is forgotten.
import type { FastifyBaseLogger } from 'fastify';
import type { Driver, ManagedService } from './drivers/driver.ts';
import type { AutoscalerMetrics } from './plugins/metrics.ts';
import type { Outcome, ScalerState } from './policy.ts';
import { decide, notApplied, refused } from './policy.ts';
import type { JobSample, PrometheusReader } from './prometheus.ts';
import { loadOf, SIGNALS } from './prometheus.ts';

export interface PassReport {
  prometheusUp: boolean;
  decisions: (Outcome['decision'] & { service: string; applied: boolean; error?: string })[];
  problems: { service: string; problem: string }[];
}

export interface ScalerOptions {
  driver: Driver;
  reader: PrometheusReader;
  metrics: AutoscalerMetrics;
  log: FastifyBaseLogger;
  dryRun: boolean;
  /** The loop's interval: a gap of several intervals between observations breaks the windows. */
  intervalMs: number;
  /** Injected for tests; Date.now otherwise. */
  now?: () => number;
}

export class Scaler {
  private readonly states = new Map<string, ScalerState>();
  private readonly o: ScalerOptions;
  constructor(opts: ScalerOptions) {
    this.o = opts;
  }

  /** One pass. Throws only when the orchestrator can't be listed (nothing can be decided then). */
  async pass(): Promise<PassReport> {
    const { driver, reader, metrics: m, log } = this.o;
    const listing = await driver.list();
    for (const p of listing.problems) {
      // Started with good labels, changed since: that service is left alone until they are fixed.
      m.scaleErrors.inc({ service: p.service, reason: 'bad-labels' });
      log.warn(p, 'autoscaler: service left alone: %s', p.problem);
    }
    m.managed.set(listing.services.length);

    let samples: Map<string, JobSample> | undefined;
    try {
      samples = await reader.read(listing.services.map((s) => s.job));
      m.prometheusUp.set(1);
    } catch (err) {
      m.prometheusUp.set(0);
      log.error({ err }, 'autoscaler: Prometheus unreachable; holding every service');
    }

    const report: PassReport = {
      prometheusUp: samples !== undefined,
      decisions: [],
      problems: listing.problems,
    };
    // The time of each decision, not of the pass: a native scale may take a minute of the pass.
    const clock = this.o.now ?? Date.now;
    for (const service of listing.services) report.decisions.push(await this.one(service, samples, clock()));

    // Forget services no longer managed (and their series: they would show stale values for good).
    const names = new Set(listing.services.map((s) => s.name));
    for (const name of this.states.keys())
      if (!names.has(name)) {
        this.states.delete(name);
        for (const kind of ['current', 'desired', 'min', 'max']) m.replicas.remove({ service: name, kind });
        for (const signal of [...SIGNALS, 'max']) m.load.remove({ service: name, signal });
      }
    return report;
  }

  private async one(service: ManagedService, samples: Map<string, JobSample> | undefined, now: number) {
    const { driver, metrics: m, log, dryRun } = this.o;
    const { policy, name } = service;
    const load = loadOf(policy, service, samples?.get(service.job));
    const state = this.states.get(name) ?? {};
    const outcome = decide(policy, state, {
      now,
      replicas: service.replicas,
      updating: service.updating,
      load: samples === undefined ? undefined : load.load,
      downLoad: samples === undefined ? undefined : load.downLoad,
      maxGapMs: 3 * this.o.intervalMs,
    });
    const { decision } = outcome;

    for (const signal of SIGNALS) {
      const v = load.signals[signal];
      if (v === undefined) m.load.remove({ service: name, signal });
      else m.load.set({ service: name, signal }, v);
    }
    if (load.load === undefined) m.load.remove({ service: name, signal: 'max' });
    else m.load.set({ service: name, signal: 'max' }, load.load);
    m.replicas.set({ service: name, kind: 'current' }, service.replicas);
    m.replicas.set({ service: name, kind: 'min' }, policy.min);
    m.replicas.set({ service: name, kind: 'max' }, policy.max);

    let applied = false;
    let error: string | undefined;
    let next = outcome.state;
    if (decision.action !== 'hold') {
      if (dryRun) next = notApplied(outcome);
      else {
        try {
          const result = await driver.scale(service, decision.to);
          if (result.ok) applied = true;
          else {
            error = `${result.reason}: ${result.detail}`;
            m.scaleErrors.inc({ service: name, reason: result.reason });
          }
        } catch (err) {
          error = (err as Error).message;
          m.scaleErrors.inc({ service: name, reason: 'error' });
        }
        // Refused or failed: nothing changed; decide again from a fresh read next pass, never retry
        // the same write.
        if (!applied) next = refused(state, outcome);
      }
    }
    this.states.set(name, next);
    m.replicas.set({ service: name, kind: 'desired' }, applied || dryRun ? decision.to : service.replicas);
    m.decisions.inc({
      service: name,
      action: decision.action,
      reason: decision.reason,
      dry_run: String(dryRun),
    });

    const fields = { service: name, ...decision, load: load.signals, dryRun };
    if (error)
      log.warn(
        { ...fields, error },
        'autoscaler: %s %s → %d not carried out: %s',
        decision.action,
        name,
        decision.to,
        error,
      );
    else if (decision.action !== 'hold')
      log.info(
        fields,
        dryRun ? 'autoscaler: dry run, would scale %s %d → %d (%s)' : 'autoscaler: scaled %s %d → %d (%s)',
        name,
        decision.from,
        decision.to,
        decision.reason,
      );
    else if (decision.reason === 'manual-scale')
      log.info(
        fields,
        'autoscaler: %s was set to %d by someone else; adopted, holding for the cooldown',
        name,
        decision.to,
      );
    else log.debug(fields, 'autoscaler: %s holds at %d (%s)', name, decision.to, decision.reason);
    return { service: name, ...decision, applied, ...(error ? { error } : {}) };
  }
}
