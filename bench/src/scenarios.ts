// The requests of each scenario, drawn from the seeded dataset. Every request is made by the owner of
// what it touches (another user's task is a 404 and would measure nothing), with that user's token.
import { randomUUID } from 'node:crypto';
import type { NextRequest, RequestSpec } from './load.ts';
import type { Dataset } from './seed.ts';

/**
 * Ranks 0…n-1 drawn with P(k) ∝ 1/(k+1)^s: a precomputed CDF and a binary search per draw.
 * `random` is injectable so tests can check the distribution deterministically.
 */
export function zipfSampler(n: number, s: number, random: () => number = Math.random): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) {
    total += 1 / (k + 1) ** s;
    cdf[k] = total;
  }
  for (let k = 0; k < n; k++) cdf[k]! /= total;
  return () => {
    const u = random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** A fixed pseudo-random permutation, so the hot ranks land on tasks of many different users. */
function shuffled<T>(items: readonly T[], seed = 42): T[] {
  const out = [...items];
  let state = seed;
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

const LIST_SHAPES = ['', '&status=todo', '&status=in_progress', '&priority=high', '&sort=due', '&tag=work'];
const PRIORITIES = ['low', 'medium', 'high', 'urgent'] as const;

export const SCENARIOS = ['read-hot', 'read-list', 'write-create', 'mixed', 'connections-10k'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** Builds the request streams of every scenario over one dataset. */
export class Workload {
  private readonly data: Dataset;
  private readonly hot: Dataset['tasks'];
  private readonly zipf: () => number;
  /** Next-page paths per user, from the lists they read (read-list's second requests). */
  private readonly nextPages = new Map<number, string>();
  /** Tasks this run created, oldest first: what `mixed` deletes. */
  private readonly created: { id: string; owner: number }[] = [];
  /** Tasks with an update in flight: never two at once on one task (that would be a real 412). */
  private readonly updating = new Set<string>();
  private readonly json: Record<string, string>[];

  constructor(data: Dataset, zipfS: number) {
    if (data.users.length === 0 || data.tasks.length === 0) throw new Error('the dataset is empty');
    this.data = data;
    this.hot = shuffled(data.tasks);
    this.zipf = zipfSampler(this.hot.length, zipfS);
    this.json = data.users.map((u) => ({
      authorization: u.authorization,
      'content-type': 'application/json',
    }));
  }

  next(name: Exclude<ScenarioName, 'connections-10k'>): NextRequest {
    switch (name) {
      case 'read-hot':
        return () => this.readHot();
      case 'read-list':
        return () => this.readList();
      case 'write-create':
        return () => this.create();
      case 'mixed':
        return () => this.mixed();
    }
  }

  /** connections-10k sends hot reads: the claim is about connections, not about the database. */
  nextForConnections(): NextRequest {
    return () => this.readHot();
  }

  private auth(owner: number) {
    return { authorization: this.data.users[owner]!.authorization };
  }

  readHot(): RequestSpec {
    const task = this.hot[this.zipf()]!;
    return { method: 'GET', path: `/v1/tasks/${task.id}`, headers: this.auth(task.owner), expect: [200] };
  }

  readList(): RequestSpec {
    const owner = Math.floor(Math.random() * this.data.users.length);
    const nextPage = this.nextPages.get(owner);
    const path = nextPage ?? `/v1/tasks?limit=20${pick(LIST_SHAPES)}`;
    const base = path.replace(/&cursor=[^&]*$/, '');
    this.nextPages.delete(owner);
    return {
      method: 'GET',
      path,
      headers: this.auth(owner),
      expect: [200],
      onBody: (body) => {
        // Only the first page's cursor is kept: a "session" reads page one, then page two.
        if (nextPage) return;
        const cursor = (JSON.parse(body) as { nextCursor: string | null }).nextCursor;
        if (cursor) this.nextPages.set(owner, `${base}&cursor=${encodeURIComponent(cursor)}`);
      },
    };
  }

  create(): RequestSpec {
    const owner = Math.floor(Math.random() * this.data.users.length);
    return {
      method: 'POST',
      path: '/v1/tasks',
      headers: { ...this.json[owner]!, 'idempotency-key': randomUUID() },
      body: JSON.stringify({
        title: `Bench task ${Math.floor(Math.random() * 1e6)}`,
        description: 'Created by the benchmark.',
        priority: pick(PRIORITIES),
        tags: Math.random() < 0.5 ? ['work'] : [],
        dueDate: new Date(Date.now() + Math.random() * 30 * 86_400_000).toISOString(),
      }),
      expect: [201],
      onBody: (body) => {
        this.created.push({ id: (JSON.parse(body) as { id: string }).id, owner });
      },
    };
  }

  private update(): RequestSpec {
    let task = this.hot[this.zipf()]!;
    for (let tries = 0; this.updating.has(task.id) && tries < 10; tries++) task = this.hot[this.zipf()]!;
    if (this.updating.has(task.id)) return this.readHot();
    const chosen = task;
    this.updating.add(chosen.id);
    return {
      method: 'PATCH',
      path: `/v1/tasks/${chosen.id}`,
      headers: { ...this.json[chosen.owner]!, 'if-match': `"${chosen.version}"` },
      body: JSON.stringify({ priority: pick(PRIORITIES) }),
      expect: [200],
      onBody: (body) => {
        chosen.version = (JSON.parse(body) as { version: number }).version;
      },
      onDone: () => this.updating.delete(chosen.id),
    };
  }

  private remove(): RequestSpec {
    const task = this.created.shift();
    if (!task) return this.create();
    return { method: 'DELETE', path: `/v1/tasks/${task.id}`, headers: this.auth(task.owner), expect: [204] };
  }

  /** 90 % reads (hot by id, lists), 10 % writes (create 5, update 3, delete 2). */
  mixed(): RequestSpec {
    const r = Math.random() * 100;
    if (r < 65) return this.readHot();
    if (r < 90) return this.readList();
    if (r < 95) return this.create();
    if (r < 98) return this.update();
    return this.remove();
  }
}
