// A Jepsen-style record of creates sent with Idempotency-Keys, and its "set" check. Each key is one
// logical operation; every HTTP attempt at it is recorded with its monotonic send/answer times and
// outcome. A key is acknowledged once any attempt got a 201. The check compares the record with what
// the database holds: every acknowledged create present exactly once, with the id it was answered
// with; no key created twice; nothing the client never asked for.
import { performance } from 'node:perf_hooks';

export interface Attempt {
  key: string;
  sentAt: number; // ms, performance.now()
  answeredAt: number;
  /** The HTTP status, or what went wrong before one came back. */
  outcome: number | 'timeout' | 'error';
  taskId?: string;
  replayed?: boolean;
}

export interface SetCheck {
  attempted: number;
  acknowledged: number;
  /** Acknowledged, yet not in the database. */
  lost: string[];
  /** In the database more than once. */
  duplicated: string[];
  /** In the database, yet never sent. */
  unexpected: string[];
  /** Answered with an id other than the stored one (or with two different ids). */
  mismatched: string[];
}

export class CreateHistory {
  readonly attempts: Attempt[] = [];
  readonly #keys = new Set<string>();

  readonly #send: (key: string, signal: AbortSignal) => Promise<Response>;
  readonly #attemptTimeoutMs: number;

  constructor(send: (key: string, signal: AbortSignal) => Promise<Response>, attemptTimeoutMs: number) {
    this.#send = send;
    this.#attemptTimeoutMs = attemptTimeoutMs;
  }

  /** One attempt at `key`, recorded whatever happens. */
  async attempt(key: string, send = this.#send): Promise<Attempt> {
    this.#keys.add(key);
    const sentAt = performance.now();
    let record: Attempt;
    try {
      const res = await send(key, AbortSignal.timeout(this.#attemptTimeoutMs));
      const body = (await res.json().catch(() => ({}))) as { id?: string };
      record = {
        key,
        sentAt,
        answeredAt: performance.now(),
        outcome: res.status,
        ...(res.status === 201
          ? { taskId: body.id, replayed: res.headers.get('idempotent-replayed') === 'true' }
          : {}),
      };
    } catch (err) {
      const outcome = (err as Error).name === 'TimeoutError' ? 'timeout' : 'error';
      record = { key, sentAt, answeredAt: performance.now(), outcome };
    }
    this.attempts.push(record);
    return record;
  }

  /** Attempts at `key` until one is acknowledged (201) or `deadline` (performance.now()) passes. */
  async untilAcknowledged(key: string, deadline: number, pauseMs = 100): Promise<Attempt | undefined> {
    while (performance.now() < deadline) {
      const a = await this.attempt(key);
      if (a.outcome === 201) return a;
      await new Promise((r) => setTimeout(r, pauseMs));
    }
    return undefined;
  }

  /** When `key` was first acknowledged by an attempt sent at `since` or later. */
  acknowledgedAt(key: string, since = 0): number | undefined {
    return this.attempts.find((a) => a.key === key && a.outcome === 201 && a.sentAt >= since)?.answeredAt;
  }

  /** Compare with the database: `stored` maps each stored task's key (its title) to its ids. */
  check(stored: Map<string, string[]>): SetCheck {
    const answered = new Map<string, Set<string>>();
    for (const a of this.attempts) {
      if (a.outcome !== 201 || !a.taskId) continue;
      const ids = answered.get(a.key) ?? new Set<string>();
      ids.add(a.taskId);
      answered.set(a.key, ids);
    }
    const result: SetCheck = {
      attempted: this.#keys.size,
      acknowledged: answered.size,
      lost: [],
      duplicated: [],
      unexpected: [],
      mismatched: [],
    };
    for (const [key, ids] of answered) {
      const have = stored.get(key) ?? [];
      if (have.length === 0) result.lost.push(key);
      else if (ids.size !== 1 || !have.includes([...ids][0]!)) result.mismatched.push(key);
    }
    for (const [key, ids] of stored) {
      if (!this.#keys.has(key)) result.unexpected.push(key);
      if (ids.length > 1) result.duplicated.push(key);
    }
    return result;
  }
}
