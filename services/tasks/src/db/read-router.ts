// Where a read goes (design §3): to a replica that is healthy, within the lag bounds and — for a caller
// who wrote recently — has replayed that caller's last write; otherwise to the primary. Every replica's
// replay position is polled (≈100 ms) against the primary's current position.

import { parseLsn } from '@taskfleet/events';
import type pg from 'pg';

export interface ReplicaState {
  name: string;
  pool: pg.Pool;
  /** Last replay position seen; it only moves forward, so it is a safe lower bound between polls. */
  replayLsn: bigint | null;
  lagBytes: number;
  lagSeconds: number;
  healthy: boolean;
  inRotation: boolean;
}

export interface RouterOptions {
  pollMs: number;
  maxLagBytes: number;
  maxLagSeconds: number;
  onError?: (replica: string, err: Error) => void;
  onPoll?: (replicas: readonly ReplicaState[]) => void;
}

export type ReadTarget =
  | { kind: 'replica'; replica: ReplicaState }
  | { kind: 'primary'; reason: 'no_replica' | 'not_caught_up' | 'token_unknown' };

export class ReadRouter {
  readonly replicas: ReplicaState[];
  /** The primary's WAL position at the last poll: data read from the primary includes at least this. */
  primaryLsn = 0n;
  private timer: NodeJS.Timeout | undefined;
  private next = 0;
  private stopped = false;
  private readonly primary: pg.Pool;
  private readonly opts: RouterOptions;

  constructor(primary: pg.Pool, replicas: { name: string; pool: pg.Pool }[], opts: RouterOptions) {
    this.primary = primary;
    this.opts = opts;
    this.replicas = replicas.map((r) => ({
      ...r,
      replayLsn: null,
      lagBytes: 0,
      lagSeconds: 0,
      healthy: false,
      inRotation: false,
    }));
  }

  /** First poll completes before this resolves, so the first requests already see the replicas. */
  async start(): Promise<void> {
    await this.poll();
    const loop = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => void this.poll().finally(loop), this.opts.pollMs);
      this.timer.unref();
    };
    loop();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  async poll(): Promise<void> {
    let primaryLsn: bigint;
    try {
      const r = await this.primary.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
      primaryLsn = parseLsn(r.rows[0]!.lsn);
      this.primaryLsn = primaryLsn;
    } catch (err) {
      // Without the primary's position lag is unknown: keep the last verdicts (replay positions stay
      // valid lower bounds for read-your-writes).
      this.opts.onError?.('primary', err as Error);
      return;
    }
    await Promise.all(
      this.replicas.map(async (replica) => {
        try {
          const r = await replica.pool.query<{ lsn: string | null; age: number | null; recovery: boolean }>(
            `select pg_last_wal_replay_lsn()::text as lsn, pg_is_in_recovery() as recovery,
                    extract(epoch from clock_timestamp() - pg_last_xact_replay_timestamp())::float8 as age`,
          );
          const row = r.rows[0]!;
          if (!row.recovery || row.lsn === null)
            throw new Error('not a streaming replica (promoted, or never replayed)');
          const lsn = parseLsn(row.lsn);
          replica.replayLsn = replica.replayLsn !== null && replica.replayLsn > lsn ? replica.replayLsn : lsn;
          replica.lagBytes = lsn >= primaryLsn ? 0 : Number(primaryLsn - lsn);
          // Time since the last replayed commit means lag only while WAL is waiting to be replayed.
          replica.lagSeconds = replica.lagBytes === 0 ? 0 : Math.max(0, row.age ?? 0);
          replica.healthy = true;
        } catch (err) {
          replica.healthy = false;
          this.opts.onError?.(replica.name, err as Error);
        }
        replica.inRotation =
          replica.healthy &&
          replica.lagBytes <= this.opts.maxLagBytes &&
          replica.lagSeconds <= this.opts.maxLagSeconds;
      }),
    );
    this.opts.onPoll?.(this.replicas);
  }

  /**
   * Pick a target for a read. `minLsn`: the caller's last write position (null: no recent write;
   * undefined: unknown, e.g. the token store is down — then only the primary is safe).
   */
  route(minLsn: bigint | null | undefined): ReadTarget {
    if (minLsn === undefined) return { kind: 'primary', reason: 'token_unknown' };
    const candidates = this.replicas.filter((r) => r.inRotation);
    if (candidates.length === 0) return { kind: 'primary', reason: 'no_replica' };
    const caughtUp =
      minLsn === null ? candidates : candidates.filter((r) => r.replayLsn !== null && r.replayLsn >= minLsn);
    if (caughtUp.length === 0) return { kind: 'primary', reason: 'not_caught_up' };
    this.next = (this.next + 1) % caughtUp.length;
    return { kind: 'replica', replica: caughtUp[this.next]! };
  }

  /** A read failed on a replica: take it out until the next successful poll. */
  markFailed(replica: ReplicaState): void {
    replica.healthy = false;
    replica.inRotation = false;
  }
}
