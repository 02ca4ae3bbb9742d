// The outbox relay (design §5): takes unsent outbox rows in order, publishes each to the events
// exchange with publisher confirms, and marks them sent — all inside one transaction that holds the
// rows with FOR UPDATE SKIP LOCKED, so any number of relays can run without publishing a row twice
// at the same time. RabbitMQ down: the transaction rolls back, rows stay unsent, writes go on; the
// backlog drains when it is back. Delivery is at-least-once: consumers de-duplicate by event id.

import type { TaskEvent } from '@taskfleet/events';
import { EVENTS_EXCHANGE } from '@taskfleet/events';
import { inTraceOf } from '@taskfleet/service';
import type { ConfirmChannel } from 'amqplib';
import fp from 'fastify-plugin';
import type pg from 'pg';
import type { Config } from '../config.ts';

interface OutboxRow {
  seq: string;
  event_id: string;
  type: TaskEvent['type'];
  owner_id: string;
  task_id: string;
  version: number;
  traceparent: string | null;
  occurred_at: Date;
}

export interface RelayHooks {
  /** RabbitMQ confirmed a batch's messages (before the rows are marked sent): their events' times. */
  onConfirmed?: (exchange: string, occurredAt: readonly Date[]) => void;
  onPublished?: (n: number) => void;
  onFailure?: (err: Error) => void;
}

export class OutboxRelay {
  /** The confirm channel of the current connection; undefined while RabbitMQ is away. */
  channel: ConfirmChannel | undefined;
  private readonly pool: pg.Pool;
  private readonly batch: number;
  private readonly hooks: RelayHooks;
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(pool: pg.Pool, opts: { batch: number } & RelayHooks) {
    this.pool = pool;
    this.batch = opts.batch;
    this.hooks = opts;
  }

  /** One batch; returns how many events were published (0: nothing to do, or no channel). */
  async relayOnce(): Promise<number> {
    const channel = this.channel;
    if (!channel) return 0;
    const client = await this.pool.connect();
    try {
      await client.query('begin');
      const { rows } = await client.query<OutboxRow>(
        `select seq, event_id, type, owner_id, task_id, version, traceparent, occurred_at
           from outbox where sent_at is null order by seq limit $1 for update skip locked`,
        [this.batch],
      );
      if (rows.length === 0) {
        await client.query('commit');
        return 0;
      }
      // Read after the rows' commits: a replica at this position shows every change in the batch.
      const { rows: lsnRows } = await client.query<{ lsn: string }>(
        'select pg_current_wal_lsn()::text as lsn',
      );
      const lsn = lsnRows[0]!.lsn;
      for (const row of rows) {
        const event: TaskEvent = {
          id: row.event_id,
          type: row.type,
          occurredAt: row.occurred_at.toISOString(),
          ownerId: row.owner_id,
          taskId: row.task_id,
          version: row.version,
          lsn,
        };
        // In the trace of the request that wrote the row: with tracing on, the publish span is its child
        // and the message carries that span's traceparent; without, the row's traceparent as it is.
        inTraceOf(row.traceparent, () =>
          channel.publish(EVENTS_EXCHANGE, event.type, Buffer.from(JSON.stringify(event)), {
            persistent: true,
            contentType: 'application/json',
            messageId: event.id,
            type: event.type,
            timestamp: Math.floor(Date.parse(event.occurredAt) / 1000),
            headers: row.traceparent ? { traceparent: row.traceparent } : {},
          }),
        );
      }
      await channel.waitForConfirms(); // throws if the broker refused any of them
      this.hooks.onConfirmed?.(
        EVENTS_EXCHANGE,
        rows.map((r) => r.occurred_at),
      );
      await client.query('update outbox set sent_at = clock_timestamp() where seq = any($1::bigint[])', [
        rows.map((r) => r.seq),
      ]);
      await client.query('commit');
      this.hooks.onPublished?.(rows.length);
      return rows.length;
    } catch (err) {
      await client.query('rollback').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  start(pollMs: number): void {
    this.running = true;
    this.loop = (async () => {
      let failures = 0;
      while (this.running) {
        try {
          const n = await this.relayOnce();
          failures = 0;
          if (n < this.batch) await sleep(pollMs); // a full batch: more is probably waiting
        } catch (err) {
          this.hooks.onFailure?.(err as Error);
          await sleep(Math.min(2_000, 50 * 2 ** failures++));
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

declare module 'fastify' {
  interface FastifyInstance {
    relay: OutboxRelay;
  }
}

/** The job: relaying from when the app is ready, on the confirm channel of the current connection. */
export default fp<{ config: Config }>(
  async (app, { config }) => {
    const { published, publishFailures, relayLag, amqpPublished } = app.workerMetrics;
    amqpPublished.inc({ exchange: EVENTS_EXCHANGE }, 0); // the series exists before the first event
    const relay = new OutboxRelay(app.tasksDb, {
      batch: config.RELAY_BATCH,
      onConfirmed: (exchange, occurredAt) => {
        const now = Date.now();
        for (const at of occurredAt) relayLag.observe(Math.max(0, now - at.getTime()) / 1000);
        amqpPublished.inc({ exchange }, occurredAt.length);
      },
      onPublished: (n) => published.inc(n),
      onFailure: (err) => {
        publishFailures.inc();
        app.log.warn({ err }, 'outbox relay batch failed; retrying');
      },
    });
    app.decorate('relay', relay);
    app.amqp.onConnect(async (connection) => {
      relay.channel = await connection.createConfirmChannel();
      relay.channel.on('error', () => {}); // the connection's loss is what counts, and it is handled
    });
    app.amqp.onLost(() => {
      relay.channel = undefined;
    });
    app.addHook('onReady', async () => relay.start(config.RELAY_POLL_MS));
    app.addHook('onClose', async () => relay.stop());
  },
  { name: 'relay', dependencies: ['database', 'amqp', 'metrics'] },
);
