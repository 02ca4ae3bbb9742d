// The job: a pass over every managed service every AUTOSCALER_INTERVAL, the first as soon as the process
// listens. A pass starts only once the last one has ended (a slow engine or Prometheus can't pile passes
// up). Readiness says whether the last pass completed; a Prometheus that did not answer shows as
// degraded (the pass completed: it held every service, which is what it should do then).
import fp from 'fastify-plugin';
import type { Config } from '../config.ts';
import type { PassReport } from '../scaler.ts';
import { Scaler } from '../scaler.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** One pass now (tests; the loop calls it too). */
    autoscalePass: () => Promise<PassReport>;
  }
}

export default fp<{ config: Config; now?: () => number }>(
  async (app, { config, now }) => {
    const scaler = new Scaler({
      driver: app.scalingDriver,
      reader: app.prometheusReader,
      metrics: app.autoscalerMetrics,
      log: app.log,
      dryRun: config.dryRun,
      intervalMs: config.intervalMs,
      ...(now ? { now } : {}),
    });
    let last: { at: number; report?: PassReport; error?: Error } | undefined;
    let running: Promise<PassReport> | undefined;

    const pass = async (): Promise<PassReport> => {
      // Never two at once: a caller during a pass gets that pass.
      if (running) return running;
      running = scaler.pass();
      try {
        const report = await running;
        last = { at: Date.now(), report };
        app.autoscalerMetrics.passes.inc({ outcome: 'ok' });
        return report;
      } catch (err) {
        last = { at: Date.now(), error: err as Error };
        app.autoscalerMetrics.passes.inc({ outcome: 'failed' });
        throw err;
      } finally {
        running = undefined;
      }
    };
    app.decorate('autoscalePass', pass);

    app.health.add({
      name: 'last-pass',
      critical: true,
      check: () => {
        if (!last) throw new Error('no pass completed yet');
        if (last.error) throw new Error(`the last pass failed: ${last.error.message}`);
        return `completed ${Math.round((Date.now() - last.at) / 1000)} s ago, ${last.report!.decisions.length} services`;
      },
    });
    app.health.add({
      name: 'prometheus',
      critical: false,
      check: () => {
        if (last?.report && !last.report.prometheusUp)
          throw new Error('unreachable in the last pass: holding');
      },
    });

    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const loop = async () => {
      try {
        await pass();
      } catch (err) {
        app.log.error({ err }, 'autoscaler: pass failed (the orchestrator could not be listed)');
      }
      if (!stopped) timer = setTimeout(loop, config.intervalMs);
    };
    // A process that serves starts at once; a test's injected app runs passes itself.
    app.addHook('onListen', async () => {
      timer = setTimeout(loop, 0);
    });
    app.addHook('onClose', async () => {
      stopped = true;
      clearTimeout(timer);
      await running?.catch(() => undefined);
    });
  },
  { name: 'scaling', dependencies: ['driver', 'prometheus', 'metrics', 'health'] },
);
