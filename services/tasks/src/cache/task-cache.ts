// Two cache levels in front of the database (design §4): L1 in this process (bounded LRU), L2 in Redis.
//
// Every entry is stamped with the WAL position its data is known to include (the replica's replay
// position, or the primary's, when it was read). An entry is served only to a caller whose own last
// write is at or before that stamp (read-your-writes covers the caches too), and after an invalidation
// a key is re-filled only from data at or past the invalidating write (its "floor").
//
// - task by id: L1 + L2, deleted on write (after commit) and by events on every replica;
// - lists and summaries: keys carry the owner's generation number, bumped by each write, so one INCR
//   retires all of an owner's cached lists — no KEYS/SCAN anywhere.
// Concurrent misses for one key share one load (single-flight). Redis down: L1 + database, no errors.

import { lsnHex } from '@taskfleet/events';
import type { Span } from '@taskfleet/service';
import { activeSpan, inSpan } from '@taskfleet/service';
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { Metrics } from '../plugins/metrics.ts';
import type { CacheKeys } from './layout.ts';
import { cacheKeys, floorKey, invalidateTask } from './layout.ts';

export type Kind = 'task' | 'list' | 'summary';

interface Entry {
  /** JSON of the cached value (so L1 and L2 hold the same bytes and callers can't mutate entries). */
  json: string;
  /** Fixed-width hex WAL position the data includes. */
  lsn: string;
}

export interface CacheOptions {
  redis: Redis;
  prefix: string;
  l1MaxEntries: number;
  l1TtlMs: number;
  l2TtlSeconds: number;
  metrics: Metrics;
  onError: (op: string, err: Error) => void;
}

const hex = lsnHex;

// L2 fill that loses to a newer write: skipped when the key's write floor is past the entry's stamp.
// (A reader that read an old replica must not put the old state back after the writer deleted it.)
const GUARDED_SET = `
local floor = redis.call('GET', KEYS[2])
if floor and floor > ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1`;

export class TaskCache {
  readonly keys: CacheKeys;
  private readonly l1: LRUCache<string, Entry>;
  /** Per-key floors from invalidations: a re-fill must come from data at least this fresh. */
  private readonly floors: LRUCache<string, bigint>;
  /** The owners' current generations, as last read from Redis (evicted by events). */
  private readonly generations: LRUCache<string, number>;
  private readonly inflight = new Map<string, Promise<{ entry: Entry; layer: 'l2' | 'database' }>>();
  private readonly opts: CacheOptions;
  /** L1 is trusted only while the invalidation channel is up (events in a gap would be lost). */
  private l1Enabled = false;
  /** Fixed-width hex WAL position: L1 keeps only entries stamped at or after it (see enableL1). */
  private l1Since = '';

  constructor(opts: CacheOptions) {
    this.opts = opts;
    this.keys = cacheKeys(opts.prefix);
    this.l1 = new LRUCache<string, Entry>({
      max: opts.l1MaxEntries,
      ttl: opts.l1TtlMs,
      // Sizes for tasks_l1_bytes only (three string lengths per set); lru-cache tracks sizes only with a
      // bound, so the bound is one no entry reaches: entries are still limited by count alone.
      sizeCalculation: (entry, key) => key.length + entry.json.length + entry.lsn.length,
      maxEntrySize: Number.MAX_SAFE_INTEGER,
      dispose: (_v, _k, reason) => {
        if (reason === 'evict') opts.metrics.cacheEvictions.inc({ layer: 'l1', reason: 'capacity' });
      },
    });
    this.floors = new LRUCache<string, bigint>({ max: opts.l1MaxEntries, ttl: opts.l2TtlSeconds * 1000 });
    this.generations = new LRUCache<string, number>({ max: opts.l1MaxEntries, ttl: opts.l1TtlMs });
  }

  get l1Size(): number {
    return this.l1.size;
  }

  /** Characters held by L1's keys and entries (≈ bytes: V8 stores ASCII strings one byte a character). */
  get l1Bytes(): number {
    return this.l1.calculatedSize;
  }

  /**
   * The invalidation channel is (re)connected, and every write after WAL position `subscribedAt` will
   * reach us as an event: L1 may hold data at least that fresh. Older data (an L2 entry filled before
   * we subscribed) may predate a write whose event we never saw — it is served, but not kept locally.
   */
  enableL1(subscribedAt: bigint): void {
    this.l1Since = hex(subscribedAt);
    this.l1Enabled = true;
  }

  /** The invalidation channel is down: forget everything held locally and stop using L1. */
  disableL1(): void {
    this.l1Enabled = false;
    const n = this.l1.size;
    this.l1.clear();
    this.generations.clear();
    if (n) this.opts.metrics.cacheEvictions.inc({ layer: 'l1', reason: 'flush' }, n);
  }

  /**
   * The value under `key`, from L1, L2 or `load` — never staler than `minLsn` or the key's floor.
   * `load(floor)` must read data that includes everything up to `floor` and say how fresh it is.
   */
  async get<T>(
    kind: Kind,
    key: string,
    minLsn: bigint | null,
    load: (floor: bigint | null) => Promise<{ value: T; lsn: bigint }>,
  ): Promise<T> {
    // In a trace: which layer answered (l1, l2 or database) and the freshness the answer had to meet.
    return inSpan('cache.lookup', { 'cache.kind': kind }, (span) =>
      this.lookup(span, kind, key, minLsn, load),
    );
  }

  private async lookup<T>(
    span: Span,
    kind: Kind,
    key: string,
    minLsn: bigint | null,
    load: (floor: bigint | null) => Promise<{ value: T; lsn: bigint }>,
  ): Promise<T> {
    const { metrics } = this.opts;
    const floor = this.floors.get(key) ?? null;
    const need = floor === null ? minLsn : minLsn === null || floor > minLsn ? floor : minLsn;
    const fresh = (e: Entry | undefined): e is Entry =>
      e !== undefined && (need === null || e.lsn >= hex(need));

    if (need !== null) span.setAttribute('cache.min_lsn', hex(need));
    if (this.l1Enabled) {
      const e = this.l1.get(key);
      if (fresh(e)) {
        metrics.cacheHits.inc({ layer: 'l1', kind });
        span.setAttribute('cache.layer', 'l1');
        return JSON.parse(e.json) as T;
      }
      metrics.cacheMisses.inc({ layer: 'l1', kind });
    }

    // Single-flight: one load per key at a time in this process; later callers whose bound the shared
    // result does not meet load again.
    let flight = this.inflight.get(key);
    if (!flight) {
      flight = this.fill(kind, key, need, load).finally(() => this.inflight.delete(key));
      this.inflight.set(key, flight);
    }
    let filled = await flight;
    if (!fresh(filled.entry)) filled = await this.fill(kind, key, need, load);
    span.setAttribute('cache.layer', filled.layer);
    return JSON.parse(filled.entry.json) as T;
  }

  private async fill<T>(
    kind: Kind,
    key: string,
    need: bigint | null,
    load: (floor: bigint | null) => Promise<{ value: T; lsn: bigint }>,
  ): Promise<{ entry: Entry; layer: 'l2' | 'database' }> {
    const { metrics, redis } = this.opts;
    const fresh = (e: Entry | undefined): e is Entry =>
      e !== undefined && (need === null || e.lsn >= hex(need));
    let fromL2: Entry | undefined;
    try {
      const raw = await redis.get(key);
      fromL2 = raw ? (JSON.parse(raw) as Entry) : undefined;
    } catch (err) {
      this.opts.onError('l2_get', err as Error);
    }
    if (fresh(fromL2)) {
      metrics.cacheHits.inc({ layer: 'l2', kind });
      this.fillL1(key, fromL2);
      return { entry: fromL2, layer: 'l2' };
    }
    metrics.cacheMisses.inc({ layer: 'l2', kind });
    const { value, lsn } = await load(need);
    const entry: Entry = { json: JSON.stringify(value), lsn: hex(lsn) };
    this.fillL1(key, entry);
    try {
      // Lists and summaries have no floor of their own: a write moves them to a new generation.
      const floor = kind === 'task' ? floorKey(key) : `${key}:-`;
      const stored = await redis.eval(
        GUARDED_SET,
        2,
        key,
        floor,
        JSON.stringify(entry),
        entry.lsn,
        this.opts.l2TtlSeconds,
      );
      if (stored === 1) metrics.cacheFills.inc({ layer: 'l2', kind });
    } catch (err) {
      this.opts.onError('l2_set', err as Error);
    }
    return { entry, layer: 'database' };
  }

  private fillL1(key: string, entry: Entry): void {
    if (!this.l1Enabled || entry.lsn < this.l1Since) return;
    this.l1.set(key, entry);
    this.opts.metrics.cacheFills.inc({
      layer: 'l1',
      kind: key.includes(':c:t:') ? 'task' : key.includes(':c:s:') ? 'summary' : 'list',
    });
  }

  /** The owner's list/summary generation; undefined when Redis can't tell (then lists are not cached). */
  async generation(owner: string): Promise<number | undefined> {
    const local = this.l1Enabled ? this.generations.get(owner) : undefined;
    if (local !== undefined) return local;
    try {
      const g = Number((await this.opts.redis.get(this.keys.generation(owner))) ?? 0);
      if (this.l1Enabled) this.generations.set(owner, g);
      return g;
    } catch (err) {
      this.opts.onError('generation', err as Error);
      return undefined;
    }
  }

  /** After this instance committed a write: local and shared invalidation (best effort on Redis). */
  async afterWrite(owner: string, taskId: string, lsn: bigint | null): Promise<void> {
    this.evictLocal(owner, taskId, lsn);
    try {
      await invalidateTask(this.opts.redis, this.keys, owner, taskId, lsn ?? 0n, this.opts.l2TtlSeconds);
    } catch (err) {
      // Redis is down: its entries expire (L2 TTL) and the worker's invalidator deletes them again
      // from the event log once Redis is back.
      this.opts.onError('after_write', err as Error);
    }
  }

  /** The write floor this replica knows for `key` (from an event or its own write), if any. */
  floorOf(key: string): bigint | null {
    return this.floors.get(key) ?? null;
  }

  /** An event (or our own write) says the task changed at `lsn`: drop local copies, raise its floor. */
  evictLocal(owner: string, taskId: string, lsn: bigint | null): void {
    const key = this.keys.task(owner, taskId);
    const evicted = this.l1.delete(key);
    if (evicted) this.opts.metrics.cacheEvictions.inc({ layer: 'l1', reason: 'invalidation' });
    // In a trace (the event's consume span, or the write's own): what this replica dropped.
    activeSpan()?.setAttributes({ 'cache.l1.evicted': evicted, 'cache.floor': lsn === null ? '' : hex(lsn) });
    this.generations.delete(owner);
    if (lsn !== null) {
      const current = this.floors.get(key);
      if (current === undefined || lsn > current) this.floors.set(key, lsn);
    }
  }
}
