import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { readUpstreamsFile, Upstream, UpstreamGroup } from '../../src/upstreams.ts';

const BREAKER = { failures: 3, openMs: 1_000 };
type Pool = ConstructorParameters<typeof Upstream>[1];

/** An upstream whose pool is never used: the breaker is bookkeeping only. */
const upstream = () => new Upstream('http://10.0.0.1:3000', {} as Pool, BREAKER);

/** One finished request that failed / succeeded. */
const fail = (u: Upstream) => {
  u.begin();
  u.failed();
};
const succeed = (u: Upstream) => {
  u.begin();
  u.succeeded();
};

describe('Upstream circuit breaker', () => {
  beforeEach(() => {
    // Only the clock: the breaker reads Date.now() and sets no timers.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2025-03-01T10:00:00Z'));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('stays closed below the failure threshold', () => {
    const u = upstream();
    expect(u.state).toBe('closed');
    fail(u);
    fail(u);
    expect(u.state).toBe('closed');
    expect(u.available()).toBe(true);
  });

  it('counts consecutive failures only: a success starts the count again', () => {
    const u = upstream();
    fail(u);
    fail(u);
    succeed(u);
    fail(u);
    fail(u);
    expect(u.state).toBe('closed');
    fail(u);
    expect(u.state).toBe('open');
  });

  it('opens at the threshold and stays open for openMs', () => {
    const u = upstream();
    for (let i = 0; i < BREAKER.failures; i++) fail(u);
    expect(u.state).toBe('open');
    expect(u.available()).toBe(false);
    vi.advanceTimersByTime(BREAKER.openMs - 1);
    expect(u.state).toBe('open');
    vi.advanceTimersByTime(1);
    expect(u.state).toBe('half-open');
    expect(u.available()).toBe(true);
  });

  it('lets exactly one trial request through while half-open', () => {
    const u = upstream();
    for (let i = 0; i < BREAKER.failures; i++) fail(u);
    vi.advanceTimersByTime(BREAKER.openMs);
    u.begin();
    expect(u.state).toBe('half-open');
    expect(u.available()).toBe(false);
  });

  it('closes when the trial succeeds, and needs the full threshold to open again', () => {
    const u = upstream();
    for (let i = 0; i < BREAKER.failures; i++) fail(u);
    vi.advanceTimersByTime(BREAKER.openMs);
    succeed(u);
    expect(u.state).toBe('closed');
    fail(u);
    fail(u);
    expect(u.state).toBe('closed');
  });

  it('opens again for a full openMs when the trial fails', () => {
    const u = upstream();
    for (let i = 0; i < BREAKER.failures; i++) fail(u);
    vi.advanceTimersByTime(BREAKER.openMs + 5_000);
    expect(u.state).toBe('half-open');
    fail(u);
    expect(u.state).toBe('open');
    expect(u.available()).toBe(false);
    vi.advanceTimersByTime(BREAKER.openMs - 1);
    expect(u.state).toBe('open');
    vi.advanceTimersByTime(1);
    expect(u.state).toBe('half-open');
    expect(u.available()).toBe(true);
  });

  it('counts requests in flight', () => {
    const u = upstream();
    u.begin();
    u.begin();
    expect(u.inflight).toBe(2);
    u.succeeded();
    u.failed();
    expect(u.inflight).toBe(0);
  });
});

describe('UpstreamGroup.pick', () => {
  // IP literals resolve without DNS, and undici pools connect only when asked to send something.
  const ORIGINS = ['http://127.0.0.1:3001', 'http://127.0.0.1:3002', 'http://127.0.0.1:3003'];
  let group: UpstreamGroup;
  let byOrigin: Map<string, Upstream>;

  beforeEach(async () => {
    group = new UpstreamGroup({
      service: 'tasks',
      baseUrls: ORIGINS,
      resolveIntervalMs: 60_000,
      connectTimeoutMs: 100,
      connections: 4,
      breaker: BREAKER,
      onError: (err) => {
        throw err;
      },
    });
    await group.resolve();
    byOrigin = new Map(group.upstreams.map((u) => [u.origin, u]));
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await group.close();
  });

  const member = (i: number) => byOrigin.get(ORIGINS[i]!)!;
  const open = (u: Upstream) => {
    for (let i = 0; i < BREAKER.failures; i++) fail(u);
  };

  it('has one member per configured replica', () => {
    expect([...byOrigin.keys()].sort()).toEqual(ORIGINS);
  });

  it('picks the replica with the fewest requests in flight', () => {
    member(0).begin();
    member(0).begin();
    member(1).begin();
    expect(group.pick(new Set())).toBe(member(2));
    member(2).begin();
    member(2).begin();
    expect(group.pick(new Set())).toBe(member(1));
  });

  it('breaks ties at random among the least loaded only', () => {
    member(0).begin();
    const random = vi.spyOn(Math, 'random');
    const picked = new Set<Upstream | undefined>();
    for (const r of [0, 0.49, 0.5, 0.99]) {
      random.mockReturnValue(r);
      picked.add(group.pick(new Set()));
    }
    expect(picked).toEqual(new Set([member(1), member(2)]));
  });

  it('never picks a replica already tried for this request', () => {
    const tried = new Set([member(0), member(2)]);
    for (let i = 0; i < 20; i++) expect(group.pick(tried)).toBe(member(1));
    tried.add(member(1));
    expect(group.pick(tried)).toBeUndefined();
  });

  it('skips a replica whose circuit is open, even when it is the least loaded', () => {
    open(member(1));
    member(0).begin();
    member(2).begin();
    for (let i = 0; i < 20; i++) expect(group.pick(new Set())).not.toBe(member(1));
  });

  it('skips a half-open replica while its trial request is in flight', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      // The other two are out of the picture, so only the breaker decides.
      const tried = new Set([member(1), member(2)]);
      open(member(0));
      expect(group.pick(tried)).toBeUndefined();
      vi.advanceTimersByTime(BREAKER.openMs);
      expect(group.pick(tried)).toBe(member(0));
      member(0).begin();
      expect(group.pick(tried)).toBeUndefined();
      member(0).succeeded();
      expect(group.pick(tried)).toBe(member(0));
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('an upstreams file (the native stack scales through it)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'taskfleet-upstreams-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  /** A new file with `text`, written the way the stack runner writes it (temp file, then rename). */
  const file = (text: string, path = join(dir, `list-${++n}`)) => {
    writeFileSync(`${path}.tmp`, text);
    renameSync(`${path}.tmp`, path);
    return path;
  };

  it('lists URLs separated by commas, spaces or lines, comments left out', async () => {
    const path = file('# tasks\nhttp://127.0.0.1:3001\nhttp://127.0.0.1:3002, http://tasks:3000  # a name\n');
    expect(await readUpstreamsFile(path)).toEqual([
      'http://127.0.0.1:3001',
      'http://127.0.0.1:3002',
      'http://tasks:3000',
    ]);
  });

  it.each([
    ['lists nothing', '# nobody\n', /lists no upstream/],
    [
      'has a bad URL',
      'http://127.0.0.1:3001\nhttp://127.0.0.1:3002/path\n',
      /"http:\/\/127.0.0.1:3002\/path"/,
    ],
  ])('is refused when it %s', async (_, text, message) => {
    await expect(readUpstreamsFile(file(text))).rejects.toThrow(message);
  });

  it('is read again on every round: replicas join and leave, a bad version keeps the last list', async () => {
    const path = file('http://127.0.0.1:3001\n');
    const errors: Error[] = [];
    const group = new UpstreamGroup({
      service: 'tasks',
      baseUrls: () => readUpstreamsFile(path),
      resolveIntervalMs: 60_000, // rounds by hand below
      connectTimeoutMs: 100,
      connections: 4,
      breaker: BREAKER,
      onError: (err) => errors.push(err),
    });
    const origins = () => group.upstreams.map((u) => u.origin).sort();
    try {
      await group.start();
      expect(origins()).toEqual(['http://127.0.0.1:3001']);
      file('http://127.0.0.1:3001\nhttp://127.0.0.1:3002\nhttp://127.0.0.1:3003\n', path);
      await group.resolve();
      expect(origins()).toEqual(['http://127.0.0.1:3001', 'http://127.0.0.1:3002', 'http://127.0.0.1:3003']);
      // The members that stay are the same objects: their breakers and counts go on.
      const kept = group.upstreams.find((u) => u.origin === 'http://127.0.0.1:3001');
      file('http://127.0.0.1:3001\n', path);
      await group.resolve();
      expect(origins()).toEqual(['http://127.0.0.1:3001']);
      expect(group.upstreams[0]).toBe(kept);
      expect(errors).toEqual([]);
      // Emptied, broken or gone: reported, and the group keeps what it had.
      file('', path);
      await group.resolve();
      rmSync(path);
      await group.resolve();
      expect(origins()).toEqual(['http://127.0.0.1:3001']);
      expect(errors.map((e) => e.message)).toEqual([
        expect.stringMatching(/lists no upstream/),
        expect.stringMatching(/ENOENT/),
      ]);
    } finally {
      await group.close();
    }
  });

  it('fails the start when the file is missing', async () => {
    const group = new UpstreamGroup({
      service: 'users',
      baseUrls: () => readUpstreamsFile(join(dir, 'missing')),
      resolveIntervalMs: 60_000,
      connectTimeoutMs: 100,
      connections: 4,
      breaker: BREAKER,
      onError: () => {},
    });
    await expect(group.start()).rejects.toThrow(/ENOENT/);
    await group.close();
  });
});
