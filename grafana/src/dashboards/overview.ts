// The first screen: is the API serving, fast enough, within its SLOs, and is anything saturated.
import type { DashboardSpec } from '../model.ts';
import { stat, timeseries } from '../model.ts';
import { API, quantile, rate, sel } from '../promql.ts';

const requests = 'http_request_duration_seconds_count';
// The SLOs (docs/operations.md): 99.9 % of gateway requests succeed; 95 % finish within 100 ms.
const AVAILABILITY_BUDGET = 0.001;
const LATENCY_BUDGET = 0.05;

export const overview: DashboardSpec = {
  uid: 'taskfleet-overview',
  title: 'Taskfleet / Overview',
  description: 'RED per service, the SLOs and their error budgets, saturation.',
  jobs: ['gateway', 'tasks', 'users', 'worker'],
  rows: [
    {
      row: 'Service level (gateway: 99.9 % available, p95 < 100 ms)',
      panels: [
        stat({
          title: 'Availability budget left (3 d)',
          description: 'Share of the 0.1 % error budget not burnt over the last 3 days (recording rule).',
          unit: 'percentunit',
          targets: [
            { expr: `1 - max(gateway:slo_availability_error_ratio:rate3d) / ${AVAILABILITY_BUDGET}` },
          ],
          width: 6,
          max: 1,
        }),
        stat({
          title: 'Latency budget left (3 d)',
          description: 'Share of the 5 % "slower than 100 ms" budget not burnt over the last 3 days.',
          unit: 'percentunit',
          targets: [{ expr: `1 - max(gateway:slo_latency_slow_ratio:rate3d) / ${LATENCY_BUDGET}` }],
          width: 6,
          max: 1,
        }),
        timeseries({
          title: 'Availability burn rate',
          description:
            'Error ratio over the budget, by window: 14.4 over 1 h and 5 m pages, 1 over 3 d tickets.',
          unit: 'suffix:×',
          targets: ['5m', '1h', '6h', '3d'].map((w) => ({
            expr: `max(gateway:slo_availability_error_ratio:rate${w}) / ${AVAILABILITY_BUDGET}`,
            legend: w,
          })),
          width: 6,
          redFrom: 14.4,
        }),
        timeseries({
          title: 'Latency burn rate',
          description: 'Share of requests slower than 100 ms over the 5 % budget, by window.',
          unit: 'suffix:×',
          targets: ['5m', '1h', '6h', '3d'].map((w) => ({
            expr: `max(gateway:slo_latency_slow_ratio:rate${w}) / ${LATENCY_BUDGET}`,
            legend: w,
          })),
          width: 6,
          redFrom: 14.4,
        }),
      ],
    },
    {
      row: 'Rate, errors, duration',
      panels: [
        timeseries({
          title: 'Requests by service',
          description:
            'API requests per second each service answered (every replica; scrapes and health checks left out).',
          unit: 'reqps',
          targets: [{ expr: `sum by (job) (${rate(requests, sel(API))})`, legend: '{{job}}' }],
        }),
        timeseries({
          title: 'Error ratio by service',
          description: 'Share of answers that were 4xx (client mistakes, limits) and 5xx (ours).',
          unit: 'percentunit',
          targets: [
            {
              expr: `sum by (job) (${rate(requests, sel(API, 'status_code=~"4.."'))}) / sum by (job) (${rate(requests, sel(API))})`,
              legend: '{{job}} 4xx',
            },
            {
              expr: `sum by (job) (${rate(requests, sel(API, 'status_code=~"5.."'))}) / sum by (job) (${rate(requests, sel(API))})`,
              legend: '{{job}} 5xx',
            },
          ],
        }),
        timeseries({
          title: 'Latency by service (p50, p95, p99)',
          description: 'Time to answer, measured by each service; the gateway p95 is the SLO.',
          unit: 's',
          targets: [0.5, 0.95, 0.99].map((q) => ({
            expr: quantile(q, 'http_request_duration_seconds', sel(API), 'job'),
            legend: `{{job}} p${q * 100}`,
          })),
        }),
      ],
    },
    {
      row: 'Saturation',
      panels: [
        timeseries({
          title: 'CPU by instance',
          description: 'CPU time per second of each process (1 = one core busy).',
          unit: 'percentunit',
          targets: [{ expr: rate('process_cpu_seconds_total', sel()), legend: '{{job}} {{instance}}' }],
        }),
        timeseries({
          title: 'Memory by instance',
          description: 'Resident memory of each process.',
          unit: 'bytes',
          targets: [{ expr: `process_resident_memory_bytes{${sel()}}`, legend: '{{job}} {{instance}}' }],
        }),
        timeseries({
          title: 'Event-loop delay p99',
          description: 'How late timers fire: above ~100 ms the gateway sheds load.',
          unit: 's',
          targets: [{ expr: `nodejs_eventloop_lag_p99_seconds{${sel()}}`, legend: '{{job}} {{instance}}' }],
        }),
        timeseries({
          title: 'Database pools in use',
          description: 'Connections checked out of each service pool, and clients waiting for one.',
          unit: 'short',
          targets: [
            {
              expr: `sum by (job, pool) (db_pool_connections{${sel('state="total"')}}) - sum by (job, pool) (db_pool_connections{${sel('state="idle"')}})`,
              legend: '{{job}} {{pool}} in use',
            },
            {
              expr: `sum by (job, pool) (db_pool_waiting_clients{${sel()}})`,
              legend: '{{job}} {{pool}} waiting',
            },
          ],
        }),
        timeseries({
          title: 'Targets up',
          description: 'Replicas Prometheus scrapes successfully, per service.',
          unit: 'short',
          targets: [{ expr: `sum by (job) (up{${sel()}})`, legend: '{{job}}' }],
          min: 0,
        }),
        timeseries({
          title: 'Trace spans exported and dropped',
          description: 'Spans sent to the OTLP receiver, and spans dropped (queue full, receiver away).',
          unit: 'cps',
          targets: [
            {
              expr: `sum by (job) (${rate('tracing_spans_exported_total', sel())})`,
              legend: '{{job}} exported',
            },
            {
              expr: `sum by (job, reason) (${rate('tracing_spans_dropped_total', sel())})`,
              legend: '{{job}} dropped ({{reason}})',
            },
          ],
        }),
      ],
    },
  ],
};
