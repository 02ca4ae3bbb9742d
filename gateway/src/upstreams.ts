// The replicas of one service, as the gateway sees them. Each configured base URL is resolved to every
// address its host name has (compose and Swarm DNS: one per replica) and re-resolved periodically, so
// replicas that appear are used and replicas that vanish are dropped. The list of base URLs itself may
// come from a file read again on every round (the native stack's runner rewrites it when it scales). Each replica has a keep-alive
// connection pool and a circuit breaker: after `failures` consecutive failures it is skipped for
// `openMs`, then one trial request decides (half-open). Requests go to the replica with the fewest in
// flight (ties broken at random) — least-outstanding adapts to a slow replica, round-robin does not.
import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { Pool } from 'undici';
import { isUpstreamUrl } from './config.ts';

export interface BreakerOptions {
  failures: number;
  openMs: number;
}

export class Upstream {
  readonly origin: string;
  readonly pool: Pool;
  inflight = 0;
  private consecutiveFailures = 0;
  private openUntil = 0;
  private trialInFlight = false;
  private readonly breaker: BreakerOptions;

  constructor(origin: string, pool: Pool, breaker: BreakerOptions) {
    this.origin = origin;
    this.pool = pool;
    this.breaker = breaker;
  }

  /** 'closed': use; 'open': skip; 'half-open': one trial request may go. */
  get state(): 'closed' | 'open' | 'half-open' {
    if (this.consecutiveFailures < this.breaker.failures) return 'closed';
    return Date.now() < this.openUntil ? 'open' : 'half-open';
  }

  available(): boolean {
    const state = this.state;
    return state === 'closed' || (state === 'half-open' && !this.trialInFlight);
  }

  begin(): void {
    this.inflight++;
    if (this.state === 'half-open') this.trialInFlight = true;
  }

  succeeded(): void {
    this.inflight--;
    this.trialInFlight = false;
    this.consecutiveFailures = 0;
  }

  failed(): void {
    this.inflight--;
    this.trialInFlight = false;
    this.consecutiveFailures++;
    if (this.consecutiveFailures >= this.breaker.failures) this.openUntil = Date.now() + this.breaker.openMs;
  }
}

/**
 * The base URLs listed in an upstreams file: separated by commas or white space, `#` to the end of a
 * line is a comment. Throws when the file can't be read, lists nothing or lists a bad URL — the caller
 * keeps the list it had: a file caught half-written by a careless editor must not empty the group.
 */
export async function readUpstreamsFile(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8');
  const urls = text
    .replace(/#.*$/gm, '')
    .split(/[\s,]+/)
    .filter(Boolean);
  const bad = urls.filter((u) => !isUpstreamUrl(u));
  if (bad.length) throw new Error(`${path}: "${bad.join('", "')}" must be http://host:port with no path`);
  if (urls.length === 0) throw new Error(`${path} lists no upstream`);
  return urls;
}

export interface GroupOptions {
  service: string;
  /** The base URLs, or how to read them afresh on every round (readUpstreamsFile, say). */
  baseUrls: string[] | (() => Promise<string[]>);
  resolveIntervalMs: number;
  connectTimeoutMs: number;
  /** Connections per replica at the most. */
  connections: number;
  breaker: BreakerOptions;
  onError: (err: Error) => void;
}

export class UpstreamGroup {
  readonly service: string;
  private members = new Map<string, Upstream>();
  private timer: NodeJS.Timeout | undefined;
  private readonly opts: GroupOptions;

  constructor(opts: GroupOptions) {
    this.opts = opts;
    this.service = opts.service;
  }

  get upstreams(): Upstream[] {
    return [...this.members.values()];
  }

  /** Resolve now, then keep resolving in the background. A list that can't be read now fails the start. */
  async start(): Promise<void> {
    await this.resolve({ strict: true });
    this.timer = setInterval(
      () => void this.resolve().catch((err) => this.opts.onError(err as Error)),
      this.opts.resolveIntervalMs,
    );
    this.timer.unref();
  }

  async resolve({ strict = false } = {}): Promise<void> {
    const { baseUrls } = this.opts;
    let bases: string[];
    try {
      bases = typeof baseUrls === 'function' ? await baseUrls() : baseUrls;
    } catch (err) {
      if (strict) throw err;
      this.opts.onError(err as Error); // keep every member we had
      return;
    }
    const origins = new Set<string>();
    for (const base of bases) {
      const url = new URL(base);
      const host = url.hostname.replace(/^\[|\]$/g, '');
      try {
        for (const { address, family } of await lookup(host, { all: true })) {
          origins.add(`http://${family === 6 ? `[${address}]` : address}:${url.port || 80}`);
        }
      } catch (err) {
        // A name that doesn't resolve right now (all replicas gone): keep what we had for it.
        this.opts.onError(err as Error);
        for (const origin of this.members.keys()) origins.add(origin);
      }
    }
    for (const origin of origins) {
      if (!this.members.has(origin)) {
        const pool = new Pool(origin, {
          connections: this.opts.connections,
          pipelining: 1,
          keepAliveTimeout: 30_000,
          connect: { timeout: this.opts.connectTimeoutMs },
        });
        this.members.set(origin, new Upstream(origin, pool, this.opts.breaker));
      }
    }
    for (const [origin, member] of this.members) {
      if (!origins.has(origin)) {
        this.members.delete(origin);
        void member.pool.close().catch(() => {}); // lets its in-flight requests finish
      }
    }
  }

  /** The replica for the next attempt, never one in `tried`; undefined when none is available. */
  pick(tried: ReadonlySet<Upstream>): Upstream | undefined {
    let best: Upstream[] = [];
    for (const member of this.members.values()) {
      if (tried.has(member) || !member.available()) continue;
      if (best.length === 0 || member.inflight < best[0]!.inflight) best = [member];
      else if (member.inflight === best[0]!.inflight) best.push(member);
    }
    return best[Math.floor(Math.random() * best.length)];
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.upstreams.map((u) => u.pool.close().catch(() => {})));
  }
}
