// A RabbitMQ connection that comes back: connects, runs `setup` on every (re)connection, and on loss
// calls `onLost` (where consumers flush what they can no longer trust) and reconnects with capped,
// jittered exponential back-off.

import type { ChannelModel } from 'amqplib';
import amqp from 'amqplib';

export interface ReconnectingOptions {
  url: string;
  /** Declare topology, open channels, start consuming. A throw counts as a failed connection. */
  setup: (connection: ChannelModel) => Promise<void>;
  onLost?: (err: Error | undefined) => void;
  onConnected?: () => void;
  log?: (msg: string, err?: Error) => void;
  minDelayMs?: number;
  maxDelayMs?: number;
}

export class ReconnectingConnection {
  private connection: ChannelModel | undefined;
  private stopped = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly opts: ReconnectingOptions;

  constructor(opts: ReconnectingOptions) {
    this.opts = opts;
  }

  get connected(): boolean {
    return this.connection !== undefined;
  }

  start(): void {
    void this.connect();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    let conn: ChannelModel | undefined;
    try {
      conn = await amqp.connect(this.opts.url, { timeout: 5_000 });
      conn.on('error', () => {}); // 'close' follows; handled there
      await this.opts.setup(conn);
      if (this.stopped) {
        await conn.close().catch(() => {});
        return;
      }
      this.connection = conn;
      this.attempt = 0;
      conn.once('close', (err?: Error) => this.lost(err));
      this.opts.onConnected?.();
    } catch (err) {
      await conn?.close().catch(() => {});
      this.opts.log?.('amqp connection failed', err as Error);
      this.schedule();
    }
  }

  private lost(err: Error | undefined): void {
    this.connection = undefined;
    if (this.stopped) return;
    this.opts.onLost?.(err);
    this.opts.log?.('amqp connection lost', err);
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    const min = this.opts.minDelayMs ?? 100;
    const max = this.opts.maxDelayMs ?? 5_000;
    const delay = Math.min(max, min * 2 ** this.attempt++) * (0.5 + Math.random() / 2);
    this.timer = setTimeout(() => void this.connect(), delay);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const conn = this.connection;
    this.connection = undefined;
    await conn?.close().catch(() => {});
  }
}
