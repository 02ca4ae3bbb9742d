// The autoscaler's own metrics, on the registry of the service defaults (served at /metrics): each
// decision with its reason, the replica counts it sees and wants, each service's load by signal,
// whether Prometheus answers, and what went wrong when scaling.
import fp from 'fastify-plugin';
import { Counter, Gauge, type Registry } from 'prom-client';

export function createMetrics(registry: Registry) {
  const registers = [registry];
  return {
    decisions: new Counter({
      name: 'autoscaler_decisions_total',
      help: 'Decisions by service, action (up|down|hold), reason, and whether it was a dry run (not carried out)',
      labelNames: ['service', 'action', 'reason', 'dry_run'],
      registers,
    }),
    replicas: new Gauge({
      name: 'autoscaler_replicas',
      help: 'Replica counts by kind: current (as found), desired (as decided), min and max (its policy)',
      labelNames: ['service', 'kind'],
      registers,
    }),
    load: new Gauge({
      name: 'autoscaler_load',
      help: 'Load as a fraction of the target, by signal (cpu, memory, rps) and the highest of them (max), the one decided on; 1 = at target',
      labelNames: ['service', 'signal'],
      registers,
    }),
    prometheusUp: new Gauge({
      name: 'autoscaler_prometheus_up',
      help: '1 when the last pass could read Prometheus; 0 when it could not (every service held)',
      registers,
    }),
    scaleErrors: new Counter({
      name: 'autoscaler_scale_errors_total',
      help: 'What went wrong, by service and reason: conflict (changed since read), gone, error, bad-labels, list',
      labelNames: ['service', 'reason'],
      registers,
    }),
    passes: new Counter({
      name: 'autoscaler_passes_total',
      help: 'Passes over the managed services, by outcome (ok | failed)',
      labelNames: ['outcome'],
      registers,
    }),
    managed: new Gauge({
      name: 'autoscaler_managed_services',
      help: 'Services under the autoscaler in the last pass',
      registers,
    }),
  };
}
export type AutoscalerMetrics = ReturnType<typeof createMetrics>;

declare module 'fastify' {
  interface FastifyInstance {
    autoscalerMetrics: AutoscalerMetrics;
  }
}

export default fp(
  async (app) => {
    app.decorate('autoscalerMetrics', createMetrics(app.metricsRegistry));
  },
  { name: 'metrics', dependencies: ['http-metrics'] },
);
