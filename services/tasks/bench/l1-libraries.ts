// Which library holds the L1 cache (ADR 0004)? The card names node-cache; this compares it with the
// bounded LRU we use, on the operations the task read path performs on L1 and with its entries:
//   - reads of task ids drawn from a Zipf distribution (s = 1.1) over more ids than L1 holds,
//   - a miss fills the entry (the JSON of a real task plus its WAL stamp),
//   - 1 read in 100 is followed by an invalidation of that id (another replica's write).
// Reports operations per second and the hit ratio, median of several rounds, per contender.
//
//   node --conditions=@taskfleet/source services/tasks/bench/l1-libraries.ts [--rounds 5] [--ops 1000000]
import { parseArgs } from 'node:util';
import { LRUCache } from 'lru-cache';
import NodeCache from 'node-cache';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    ops: { type: 'string', default: '1000000' },
    capacity: { type: 'string', default: '10000' },
    keys: { type: 'string', default: '50000' },
  },
});
const ROUNDS = Number(values.rounds);
const OPS = Number(values.ops);
const CAPACITY = Number(values.capacity); // CACHE_L1_MAX_ENTRIES default
const KEYS = Number(values.keys);
const TTL_SECONDS = 60; // CACHE_L1_TTL_SECONDS default

interface Entry {
  json: string;
  lsn: string;
}
interface L1 {
  get(key: string): Entry | undefined;
  set(key: string, value: Entry): void;
  delete(key: string): void;
}

const contenders: Record<string, () => L1> = {
  'lru-cache (bounded LRU)': () => {
    const c = new LRUCache<string, Entry>({ max: CAPACITY, ttl: TTL_SECONDS * 1000 });
    return { get: (k) => c.get(k), set: (k, v) => void c.set(k, v), delete: (k) => void c.delete(k) };
  },
  'node-cache (defaults: clones)': () => nodeCache(true),
  'node-cache (useClones: false)': () => nodeCache(false),
  // Not a candidate (memory grows with every id ever read), only to separate its speed from the bound.
  'node-cache (unbounded)': () => nodeCache(false, -1),
};

function nodeCache(useClones: boolean, maxKeys = CAPACITY): L1 {
  const c = new NodeCache({ stdTTL: TTL_SECONDS, maxKeys, useClones, checkperiod: 0 });
  return {
    get: (k) => c.get<Entry>(k),
    set: (k, v) => {
      try {
        c.set(k, v);
      } catch {
        // ECACHEFULL: node-cache has no eviction; once full, new keys are simply not cached.
      }
    },
    delete: (k) => void c.del(k),
  };
}

/** Zipf(s) sampler over 1..n by inverse CDF on a precomputed table. */
function zipf(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum += 1 / (i + 1) ** s;
    cdf[i] = sum;
  }
  return () => {
    const u = random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** Deterministic PRNG (mulberry32), so every contender sees the same key sequence. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const owner = '0193f0e4-5a6b-7c8d-9e0f-123456789abc';
const keyOf = (i: number) => `tf:c:t:${owner}:0193f0e4-0000-7000-8000-${i.toString(16).padStart(12, '0')}`;
const entryOf = (i: number): Entry => ({
  json: JSON.stringify({
    id: keyOf(i).slice(-36),
    title: `Task number ${i}`,
    description: 'Prepare the quarterly report and share it with the team before the review.',
    status: 'in_progress',
    priority: 'high',
    dueDate: '2026-12-01T09:00:00.000Z',
    tags: ['work', 'reports'],
    version: 3,
    createdAt: '2026-11-20T10:00:00.000Z',
    updatedAt: '2026-11-22T15:30:00.000Z',
  }),
  lsn: '000000001a2b3c4d',
});

function round(make: () => L1, seed: number): { opsPerSec: number; hitRatio: number } {
  const l1 = make();
  const next = zipf(KEYS, 1.1, prng(seed));
  const sequence = Uint32Array.from({ length: OPS }, next);
  const entries = Array.from({ length: KEYS }, (_, i) => entryOf(i));
  const keys = Array.from({ length: KEYS }, (_, i) => keyOf(i));
  let hits = 0;
  let sink = 0;
  const start = process.hrtime.bigint();
  for (let n = 0; n < OPS; n++) {
    const i = sequence[n]!;
    const key = keys[i]!;
    const got = l1.get(key);
    if (got) {
      hits++;
      sink += got.json.length;
    } else l1.set(key, entries[i]!);
    if (n % 100 === 0) l1.delete(key);
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (sink < 0) throw new Error('unreachable');
  return { opsPerSec: OPS / seconds, hitRatio: hits / OPS };
}

const print = (line: string) => process.stdout.write(`${line}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

print(
  `L1 contenders: ${OPS.toLocaleString('en')} reads/round, ${ROUNDS} rounds, ${KEYS.toLocaleString('en')} ids, capacity ${CAPACITY.toLocaleString('en')}, Zipf s=1.1, 1% invalidations`,
);
for (const [name, make] of Object.entries(contenders)) {
  round(make, 99); // warm-up (JIT)
  const results = Array.from({ length: ROUNDS }, (_, r) => round(make, r + 1));
  const ops = median(results.map((r) => r.opsPerSec));
  const hit = median(results.map((r) => r.hitRatio));
  print(
    `${name.padEnd(32)} ${(ops / 1e6).toFixed(2).padStart(6)} M reads/s   hit ratio ${(hit * 100).toFixed(1)}%`,
  );
}
