// The autoscaler (services/autoscaler, ADR 0014): what it sees — each managed service's replicas and
// load by signal — what it decided and why, and whether it could read Prometheus or scale at all.
import type { DashboardSpec } from '../model.ts';
import { stat, timeseries } from '../model.ts';
import { of, rate } from '../promql.ts';

const autoscaler = (...extra: string[]) => of('autoscaler', ...extra);

export const autoscalerDashboard: DashboardSpec = {
  uid: 'taskfleet-autoscaler',
  title: 'Taskfleet / Autoscaler',
  description: 'Replicas and load of each managed service, the decisions with their reasons, errors.',
  jobs: ['autoscaler'],
  rows: [
    {
      row: 'Decisions',
      panels: [
        stat({
          title: 'Prometheus readable',
          description:
            'Whether the last pass could read Prometheus; when not, every service is held at its count (alert AutoscalerPrometheusUnreachable).',
          unit: 'none',
          targets: [{ expr: `min(autoscaler_prometheus_up{${autoscaler()}})`, legend: 'Prometheus' }],
          mappings: { '0': 'unreachable: holding', '1': 'readable' },
          width: 6,
        }),
        stat({
          title: 'Managed services',
          description: 'Services under the autoscaler in the last pass (labelled taskfleet.autoscale=true).',
          unit: 'none',
          targets: [{ expr: `max(autoscaler_managed_services{${autoscaler()}})`, legend: 'services' }],
          width: 6,
        }),
        timeseries({
          title: 'Replicas',
          description:
            'Each service: the count found (current), the count decided (desired; a dry run shows what it would set), and its policy bounds.',
          unit: 'none',
          width: 12,
          targets: [
            {
              expr: `max by (service, kind) (autoscaler_replicas{${autoscaler()}})`,
              legend: '{{service}} {{kind}}',
            },
          ],
        }),
        timeseries({
          title: 'Load by signal',
          description:
            'Each signal as a fraction of its target (CPU 70 % of the limit, memory 80 %, 1,000 req/s per replica): it scales up above 0.8 held for the period, down below 0.3; max is the one decided on.',
          unit: 'percentunit',
          redFrom: 0.8,
          targets: [
            {
              expr: `max by (service, signal) (autoscaler_load{${autoscaler()}})`,
              legend: '{{service}} {{signal}}',
            },
          ],
        }),
        timeseries({
          title: 'Decisions by reason',
          description:
            'Every decision of every pass by service, action and reason (in-band, stabilising, cooldown, manual-scale, no-data, …); dry_run=true ones were not carried out.',
          unit: 'ops',
          targets: [
            {
              expr: `sum by (service, action, reason, dry_run) (${rate('autoscaler_decisions_total', autoscaler())})`,
              legend: '{{service}} {{action}} {{reason}} dry-run={{dry_run}}',
            },
          ],
        }),
        timeseries({
          title: 'Scaling actions',
          description: 'Decisions that change a count (up or down), by service and reason.',
          unit: 'ops',
          targets: [
            {
              expr: `sum by (service, action, reason) (${rate('autoscaler_decisions_total', autoscaler('action!="hold"'))})`,
              legend: '{{service}} {{action}} {{reason}}',
            },
          ],
        }),
        timeseries({
          title: 'Scale errors',
          description:
            'Decisions not carried out — conflict (the service changed since it was read), updating, gone, error — and services left alone for labels it cannot parse (bad-labels).',
          unit: 'ops',
          targets: [
            {
              expr: `sum by (service, reason) (${rate('autoscaler_scale_errors_total', autoscaler())})`,
              legend: '{{service}} {{reason}}',
            },
          ],
        }),
      ],
    },
  ],
};
