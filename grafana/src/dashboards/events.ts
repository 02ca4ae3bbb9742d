// The invalidation events: written to the outbox with the task, relayed to RabbitMQ by the worker,
// consumed by every task replica (L1) and by the worker's durable invalidator (L2), dead-lettered when
// they keep failing.
import type { DashboardSpec } from '../model.ts';
import { stat, timeseries } from '../model.ts';
import { of, quantile, rate, sel } from '../promql.ts';

const worker = (...extra: string[]) => of('worker', ...extra);
const rabbitmq = () => of('rabbitmq');

export const events: DashboardSpec = {
  uid: 'taskfleet-events',
  title: 'Taskfleet / Events',
  description: 'Outbox backlog and age, relay lag, publish rate, consumers, dead letters, RabbitMQ.',
  jobs: ['worker', 'tasks', 'rabbitmq'],
  rows: [
    {
      row: 'Outbox and relay',
      panels: [
        stat({
          title: 'Outbox backlog',
          description: 'Events committed with their task and not yet published.',
          unit: 'short',
          targets: [{ expr: `max(outbox_backlog{${worker()}})`, legend: 'unsent' }],
          width: 6,
        }),
        stat({
          title: 'Oldest unsent event',
          description: 'Age of the oldest unpublished event: alerts at 30 s (delayed) and 10 min (stuck).',
          unit: 's',
          targets: [{ expr: `max(outbox_oldest_unsent_age_seconds{${worker()}})`, legend: 'age' }],
          redFrom: 30,
          width: 6,
        }),
        timeseries({
          title: 'Relay lag p95',
          description: 'From the commit of an event to its confirmed publish.',
          unit: 's',
          width: 12,
          targets: [{ expr: quantile(0.95, 'outbox_relay_lag_seconds', worker(), ''), legend: 'p95' }],
        }),
        timeseries({
          title: 'Published',
          description: 'Events the relay published and RabbitMQ confirmed, by exchange.',
          unit: 'ops',
          targets: [
            { expr: `sum(${rate('outbox_published_total', worker())})`, legend: 'outbox' },
            {
              expr: `sum by (exchange) (${rate('amqp_messages_published_total', sel())})`,
              legend: '{{exchange}}',
            },
          ],
        }),
        timeseries({
          title: 'Relay failures',
          description: 'Relay batches that failed (rolled back and retried; RabbitMQ away).',
          unit: 'ops',
          targets: [
            { expr: `sum(${rate('outbox_publish_failures_total', worker())})`, legend: 'failed batches' },
          ],
        }),
        timeseries({
          title: 'Consumed by queue and outcome',
          description: 'Messages handled by every consumer (task replicas and the worker), by outcome.',
          unit: 'ops',
          targets: [
            {
              expr: `sum by (job, queue, outcome) (${rate('amqp_messages_consumed_total', sel())})`,
              legend: '{{job}} {{queue}} {{outcome}}',
            },
          ],
        }),
      ],
    },
    {
      row: 'Invalidator and dead letters',
      panels: [
        timeseries({
          title: 'Durable invalidator outcomes',
          description: 'L2 deletions by the worker: done, retried, or dead-lettered.',
          unit: 'ops',
          targets: [
            {
              expr: `sum by (outcome) (${rate('worker_invalidations_total', worker())})`,
              legend: '{{outcome}}',
            },
          ],
        }),
        timeseries({
          title: 'Dead letters',
          description:
            'Invalidations given up after their redeliveries (each leaves a stale L2 entry until its TTL), and every dead letter the broker counted.',
          unit: 'ops',
          targets: [
            {
              expr: `sum(${rate('worker_invalidations_total', worker('outcome="dead_letter"'))})`,
              legend: 'invalidator',
            },
            {
              // The broker's count of every queue's dead letters (rejected, or over the delivery limit).
              expr: ['rejected', 'delivery_limit']
                .map(
                  (why) => `sum(${rate(`rabbitmq_global_messages_dead_lettered_${why}_total`, rabbitmq())})`,
                )
                .join(' + '),
              legend: 'RabbitMQ',
            },
          ],
        }),
        timeseries({
          title: 'Invalidations waiting for Redis',
          description: 'Deletions held back while Redis does not answer.',
          unit: 'short',
          targets: [{ expr: `sum(worker_invalidations_waiting{${worker()}})`, legend: 'waiting' }],
        }),
        stat({
          title: 'Connected to RabbitMQ',
          description: 'Workers and task replicas whose AMQP connection is up (1) or lost (0).',
          unit: 'none',
          targets: [
            {
              expr: `min by (job, instance) (worker_amqp_connected{${sel()}} or tasks_events_connected{${sel()}})`,
              legend: '{{job}} {{instance}}',
            },
          ],
          mappings: { '0': 'down', '1': 'up' },
          width: 24,
        }),
      ],
    },
    {
      row: 'RabbitMQ',
      panels: [
        timeseries({
          title: 'Messages in queues',
          description: 'Ready (waiting for a consumer) and unacknowledged (being handled), all queues.',
          unit: 'short',
          targets: [
            { expr: `sum(rabbitmq_queue_messages_ready{${rabbitmq()}})`, legend: 'ready' },
            { expr: `sum(rabbitmq_queue_messages_unacked{${rabbitmq()}})`, legend: 'unacked' },
          ],
        }),
        timeseries({
          title: 'Message flow',
          description: 'Messages received from publishers, routed to queues and delivered to consumers.',
          unit: 'ops',
          targets: ['received', 'routed', 'delivered'].map((what) => ({
            expr: `sum(${rate(`rabbitmq_global_messages_${what}_total`, rabbitmq())})`,
            legend: what,
          })),
        }),
        timeseries({
          title: 'Connections, channels, consumers',
          description: 'What is attached to the broker.',
          unit: 'short',
          targets: ['connections', 'channels', 'consumers'].map((what) => ({
            expr: `sum(rabbitmq_${what}{${rabbitmq()}})`,
            legend: what,
          })),
        }),
      ],
    },
  ],
};
