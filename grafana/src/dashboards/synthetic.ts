// The user journey from outside, every 15 s: the TLS edge's health, the JWKS, and an authenticated read
// with a probe account (blackbox exporter; the results are job `synthetic`, label `probe`).
import type { DashboardSpec } from '../model.ts';
import { stat, timeseries } from '../model.ts';
import { of, rate } from '../promql.ts';

const probes = (...extra: string[]) => of('synthetic', ...extra);

export const synthetic: DashboardSpec = {
  uid: 'taskfleet-synthetic',
  title: 'Taskfleet / Synthetic probes',
  description: 'Edge health over TLS, JWKS and an authenticated read, probed from outside every 15 s.',
  jobs: ['synthetic', 'blackbox'],
  rows: [
    {
      row: 'Probes',
      panels: [
        stat({
          title: 'Probe status',
          description:
            'The last result of each probe: 1 passed, 0 failed (an alert fires when one keeps failing).',
          unit: 'none',
          targets: [{ expr: `min by (probe) (probe_success{${probes()}})`, legend: '{{probe}}' }],
          mappings: { '0': 'failing', '1': 'passing' },
          width: 12,
        }),
        stat({
          title: 'Success over the range',
          description: "Share of probes that passed over the dashboard's time range.",
          unit: 'percentunit',
          targets: [
            {
              expr: `avg by (probe) (avg_over_time(probe_success{${probes()}}[$__range]))`,
              legend: '{{probe}}',
            },
          ],
          width: 12,
        }),
        timeseries({
          title: 'Probe duration',
          description: 'Time each probe took, end to end.',
          unit: 's',
          targets: [{ expr: `max by (probe) (probe_duration_seconds{${probes()}})`, legend: '{{probe}}' }],
        }),
        timeseries({
          title: 'HTTP phases',
          description: 'Where a probe spent its time: resolve, connect, TLS, processing, transfer.',
          unit: 's',
          stack: true,
          targets: [
            {
              expr: `max by (probe, phase) (probe_http_duration_seconds{${probes()}})`,
              legend: '{{probe}} {{phase}}',
            },
          ],
        }),
        timeseries({
          title: 'HTTP status',
          description: 'Status code each probe got back.',
          unit: 'none',
          targets: [{ expr: `max by (probe) (probe_http_status_code{${probes()}})`, legend: '{{probe}}' }],
        }),
        stat({
          title: 'Edge certificate expires in',
          description: 'Time until the earliest certificate the TLS probes saw expires.',
          unit: 's',
          targets: [
            {
              expr: `min by (probe) (probe_ssl_earliest_cert_expiry{${probes()}}) - time()`,
              legend: '{{probe}}',
            },
          ],
          width: 12,
        }),
        timeseries({
          title: 'Blackbox exporter',
          description: 'The prober itself: configuration loaded, and probes of an unknown module.',
          unit: 'short',
          width: 12,
          targets: [
            {
              expr: `max(blackbox_exporter_config_last_reload_successful{${of('blackbox')}})`,
              legend: 'config loaded',
            },
            {
              expr: `sum(${rate('blackbox_module_unknown_total', of('blackbox'))})`,
              legend: 'unknown module',
            },
          ],
        }),
      ],
    },
  ],
};
