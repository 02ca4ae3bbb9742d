// From the client's connection to the service replica: nginx, then the gateways' limits, breakers,
// retries, shedding and the latency of each upstream replica.
import type { DashboardSpec } from '../model.ts';
import { stat, timeseries } from '../model.ts';
import { API, of, quantile, rate } from '../promql.ts';

const gateway = (...extra: string[]) => of('gateway', ...extra);
const requests = 'http_request_duration_seconds_count';

export const edge: DashboardSpec = {
  uid: 'taskfleet-edge',
  title: 'Taskfleet / Edge and gateway',
  description: 'nginx, rate limits, circuit breakers, upstream latency per replica, retries, load shedding.',
  jobs: ['nginx', 'gateway', 'tasks', 'users'],
  rows: [
    {
      row: 'nginx',
      panels: [
        timeseries({
          title: 'nginx requests',
          description: 'Requests nginx handled per second (stub_status).',
          unit: 'reqps',
          targets: [{ expr: `sum by (instance) (${rate('nginx_http_requests_total', of('nginx'))})` }],
        }),
        timeseries({
          title: 'nginx connections',
          description: 'Client connections by state: reading a request, writing an answer, idle keep-alive.',
          unit: 'short',
          stack: true,
          targets: ['reading', 'writing', 'waiting'].map((state) => ({
            expr: `sum(nginx_connections_${state}{${of('nginx')}})`,
            legend: state,
          })),
        }),
        timeseries({
          title: 'nginx connections dropped',
          description: 'Accepted but not handled (worker_connections exhausted): should stay at 0.',
          unit: 'cps',
          targets: [
            {
              expr: `sum(${rate('nginx_connections_accepted', of('nginx'))}) - sum(${rate('nginx_connections_handled', of('nginx'))})`,
              legend: 'dropped',
            },
          ],
        }),
      ],
    },
    {
      row: 'Gateway',
      panels: [
        timeseries({
          title: 'Gateway answers by status',
          description: 'What clients got from the gateways, by status code.',
          unit: 'reqps',
          stack: true,
          targets: [
            { expr: `sum by (status_code) (${rate(requests, gateway(API))})`, legend: '{{status_code}}' },
          ],
        }),
        timeseries({
          title: 'Rate-limit decisions',
          description:
            'Limit decisions by rule (user on /v1/tasks*, ip, auth on /v1/auth*): allowed or limited (429).',
          unit: 'reqps',
          targets: [
            {
              expr: `sum by (rule, decision) (${rate('gateway_rate_limit_decisions_total', gateway())})`,
              legend: '{{rule}} {{decision}}',
            },
          ],
        }),
        timeseries({
          title: 'Rate limits decided locally',
          description:
            'Decisions taken without Redis (it did not answer in 100 ms): limits are per gateway then.',
          unit: 'reqps',
          targets: [
            { expr: `sum(${rate('gateway_rate_limit_fallbacks_total', gateway())})`, legend: 'local' },
          ],
        }),
        stat({
          title: 'Circuit breakers',
          description:
            'Worst breaker state per upstream replica, over the gateways: 0 closed, 1 half-open, 2 open.',
          unit: 'none',
          targets: [
            {
              expr: `max by (service, upstream) (gateway_circuit_breaker_state{${gateway()}})`,
              legend: '{{service}} {{upstream}}',
            },
          ],
          mappings: { '0': 'closed', '1': 'half-open', '2': 'open' },
          redFrom: 1,
          width: 12,
        }),
        timeseries({
          title: 'Open circuits by service',
          description: 'Upstream replicas a gateway skips because their breaker is open.',
          unit: 'short',
          targets: [
            {
              expr: `max by (service) (gateway_upstream_open_circuits{${gateway()}})`,
              legend: '{{service}}',
            },
          ],
          width: 12,
        }),
        timeseries({
          title: 'Upstream attempts by outcome',
          description:
            'Attempts to reach a service replica: answered, retried on another replica, or failed.',
          unit: 'reqps',
          targets: [
            {
              expr: `sum by (service, outcome) (${rate('gateway_upstream_requests_total', gateway())})`,
              legend: '{{service}} {{outcome}}',
            },
          ],
        }),
        timeseries({
          title: 'Retries',
          description: 'Attempts retried on another replica (idempotent requests, or never sent).',
          unit: 'reqps',
          targets: [
            {
              expr: `sum by (service) (${rate('gateway_upstream_requests_total', gateway('outcome="retried"'))})`,
              legend: '{{service}}',
            },
          ],
        }),
        timeseries({
          title: 'Load shed',
          description: 'Requests the gateways refused with 503 + Retry-After (event loop too late).',
          unit: 'reqps',
          targets: [
            {
              expr: `sum by (instance) (${rate(requests, gateway('status_code="503"'))})`,
              legend: '{{instance}}',
            },
          ],
        }),
        timeseries({
          title: 'Gateway event-loop delay (shedding input)',
          description: 'The delay under-pressure compares with its bound before it sheds.',
          unit: 's',
          targets: [
            {
              expr: `max by (instance) (nodejs_eventloop_lag_p99_seconds{${gateway()}})`,
              legend: '{{instance}}',
            },
          ],
        }),
        timeseries({
          title: 'Idempotency-Key decisions',
          description:
            'Creates with a key: claimed (ran), replayed, in flight (409), reused (422), store down.',
          unit: 'reqps',
          targets: [
            {
              expr: `sum by (decision) (${rate('gateway_idempotency_decisions_total', gateway())})`,
              legend: '{{decision}}',
            },
          ],
        }),
      ],
    },
    {
      row: 'Upstream replicas',
      panels: [
        timeseries({
          title: 'Upstream latency p95 per replica',
          description:
            'Time each tasks and users replica takes to answer the API (health and metrics excluded).',
          unit: 's',
          width: 12,
          targets: [
            {
              expr: quantile(
                0.95,
                'http_request_duration_seconds',
                'job=~"tasks|users", instance=~"$instance", route=~"/v1/.*"',
                'job, instance',
              ),
              legend: '{{job}} {{instance}}',
            },
          ],
        }),
        timeseries({
          title: 'Upstream requests per replica',
          description: 'How evenly the gateways spread the API over the replicas.',
          unit: 'reqps',
          width: 12,
          targets: [
            {
              expr: `sum by (job, instance) (${rate(requests, 'job=~"tasks|users", instance=~"$instance", route=~"/v1/.*"')})`,
              legend: '{{job}} {{instance}}',
            },
          ],
        }),
      ],
    },
  ],
};
