// The read router's decisions over hand-made replica positions: pools are stand-ins that answer the two
// polling queries from a script, so no database is involved and every position is exact.
import { describe, expect, it } from 'vitest';
import { ReadRouter, type RouterOptions } from '../../src/db/read-router.ts';

type Pool = ConstructorParameters<typeof ReadRouter>[0];

interface ReplicaRow {
  lsn: string | null;
  recovery: boolean;
  age: number | null;
}

/** A pool whose every query answers `answer()` (or throws what it throws). */
const poolAnswering = (answer: () => object): Pool =>
  ({ query: async () => ({ rows: [answer()] }) }) as unknown as Pool;

/** A pool the decision must never touch: routing is in memory, only polling queries. */
const untouchable = new Proxy({} as Pool, {
  get: (_, property) => {
    if (property === 'query' || property === 'connect') throw new Error('route() used a pool');
    return undefined;
  },
});

const OPTS: RouterOptions = { pollMs: 100, maxLagBytes: 1000, maxLagSeconds: 5 };

/** A router whose primary is at `primary` and whose replicas report what `replicas` says, per poll. */
function scripted(primary: { lsn: string }, replicas: Record<string, ReplicaRow | Error>) {
  const errors: string[] = [];
  const router = new ReadRouter(
    poolAnswering(() => primary),
    Object.keys(replicas).map((name) => ({
      name,
      pool: poolAnswering(() => {
        const row = replicas[name]!;
        if (row instanceof Error) throw row;
        return row;
      }),
    })),
    { ...OPTS, onError: (replica) => errors.push(replica) },
  );
  return { router, errors, replica: (name: string) => router.replicas.find((r) => r.name === name)! };
}

/** A router over replicas in the given state, no polling (their state is set directly). */
function routerWith(states: { replayLsn: bigint | null; inRotation: boolean }[]) {
  const router = new ReadRouter(
    untouchable,
    states.map((_, i) => ({ name: `replica${i + 1}`, pool: untouchable })),
    OPTS,
  );
  for (const [i, s] of states.entries()) Object.assign(router.replicas[i]!, s, { healthy: s.inRotation });
  return router;
}

const targetName = (t: ReturnType<ReadRouter['route']>) => (t.kind === 'replica' ? t.replica.name : t.reason);

describe('ReadRouter.route', () => {
  it('sends everything to the primary when the caller’s last write is unknown', () => {
    const router = routerWith([{ replayLsn: 10n, inRotation: true }]);
    expect(router.route(undefined)).toEqual({ kind: 'primary', reason: 'token_unknown' });
  });

  it('uses any replica in rotation for a caller with no recent write (null)', () => {
    const router = routerWith([{ replayLsn: null, inRotation: true }]);
    expect(targetName(router.route(null))).toBe('replica1');
  });

  it('uses only replicas that have replayed the caller’s last write', () => {
    const router = routerWith([
      { replayLsn: 99n, inRotation: true },
      { replayLsn: 100n, inRotation: true },
      { replayLsn: null, inRotation: true },
    ]);
    for (let i = 0; i < 5; i++) expect(targetName(router.route(100n))).toBe('replica2');
  });

  it('falls back to the primary when no replica has caught up', () => {
    const router = routerWith([
      { replayLsn: 99n, inRotation: true },
      { replayLsn: null, inRotation: true },
    ]);
    expect(router.route(100n)).toEqual({ kind: 'primary', reason: 'not_caught_up' });
  });

  it('never uses a replica out of rotation, however far it has replayed', () => {
    const router = routerWith([
      { replayLsn: 500n, inRotation: false },
      { replayLsn: 500n, inRotation: true },
    ]);
    for (let i = 0; i < 5; i++) expect(targetName(router.route(100n))).toBe('replica2');
    router.markFailed(router.replicas[1]!);
    expect(router.route(100n)).toEqual({ kind: 'primary', reason: 'no_replica' });
    expect(router.route(null)).toEqual({ kind: 'primary', reason: 'no_replica' });
  });

  it('falls back to the primary when there are no replicas at all', () => {
    expect(routerWith([]).route(null)).toEqual({ kind: 'primary', reason: 'no_replica' });
  });

  it('spreads reads over the eligible replicas in turn', () => {
    const router = routerWith([
      { replayLsn: 100n, inRotation: true },
      { replayLsn: 100n, inRotation: true },
      { replayLsn: 100n, inRotation: true },
    ]);
    const picks = Array.from({ length: 6 }, () => targetName(router.route(50n)));
    expect(new Set(picks.slice(0, 3)).size).toBe(3);
    expect(picks.slice(3)).toEqual(picks.slice(0, 3));
  });
});

describe('ReadRouter.poll', () => {
  it('puts a streaming replica within both lag bounds in rotation', async () => {
    const { router, replica } = scripted(
      { lsn: '0/1000' },
      {
        current: { lsn: '0/1000', recovery: true, age: 120 },
        slightlyBehind: { lsn: '0/C18', recovery: true, age: 2 },
      },
    );
    await router.poll();
    expect(router.primaryLsn).toBe(0x1000n);
    // Caught up: an old last commit is just a quiet primary, not lag.
    expect(replica('current')).toMatchObject({ healthy: true, inRotation: true, lagBytes: 0, lagSeconds: 0 });
    expect(replica('slightlyBehind')).toMatchObject({ inRotation: true, lagBytes: 1000, lagSeconds: 2 });
    expect(replica('slightlyBehind').replayLsn).toBe(0xc18n);
  });

  it('takes a replica too many bytes or seconds behind out of rotation', async () => {
    const { router, replica } = scripted(
      { lsn: '0/1000' },
      {
        bytes: { lsn: '0/C17', recovery: true, age: 1 },
        seconds: { lsn: '0/FFF', recovery: true, age: 5.5 },
      },
    );
    await router.poll();
    expect(replica('bytes')).toMatchObject({ healthy: true, inRotation: false, lagBytes: 1001 });
    expect(replica('seconds')).toMatchObject({
      healthy: true,
      inRotation: false,
      lagBytes: 1,
      lagSeconds: 5.5,
    });
  });

  it('takes a promoted, unreachable or never-replayed replica out of rotation', async () => {
    const { router, replica, errors } = scripted(
      { lsn: '0/1000' },
      {
        promoted: { lsn: '0/1000', recovery: false, age: null },
        neverReplayed: { lsn: null, recovery: true, age: null },
        down: new Error('connection refused'),
      },
    );
    await router.poll();
    for (const name of ['promoted', 'neverReplayed', 'down'])
      expect(replica(name)).toMatchObject({ healthy: false, inRotation: false });
    expect(errors.sort()).toEqual(['down', 'neverReplayed', 'promoted']);
    expect(router.route(null)).toEqual({ kind: 'primary', reason: 'no_replica' });
  });

  it('never moves a replay position backwards (it stays a safe lower bound)', async () => {
    const row: ReplicaRow = { lsn: '0/2000', recovery: true, age: 0 };
    const { router, replica } = scripted({ lsn: '0/2000' }, { r: row });
    await router.poll();
    row.lsn = '0/1800'; // e.g. the pooler landed on a node further behind
    await router.poll();
    expect(replica('r').replayLsn).toBe(0x2000n);
  });

  it('keeps the last verdicts when the primary cannot be asked', async () => {
    let primaryDown = false;
    const errors: string[] = [];
    const router = new ReadRouter(
      poolAnswering(() => {
        if (primaryDown) throw new Error('primary down');
        return { lsn: '0/1000' };
      }),
      [{ name: 'r', pool: poolAnswering(() => ({ lsn: '0/1000', recovery: true, age: 0 })) }],
      { ...OPTS, onError: (name) => errors.push(name) },
    );
    await router.poll();
    primaryDown = true;
    await router.poll();
    expect(errors).toEqual(['primary']);
    expect(router.replicas[0]).toMatchObject({ healthy: true, inRotation: true });
    expect(router.primaryLsn).toBe(0x1000n);
  });

  it('brings a failed replica back at the next good poll', async () => {
    const { router, replica } = scripted({ lsn: '0/1000' }, { r: { lsn: '0/1000', recovery: true, age: 0 } });
    await router.poll();
    router.markFailed(replica('r'));
    expect(router.route(null)).toEqual({ kind: 'primary', reason: 'no_replica' });
    await router.poll();
    expect(targetName(router.route(null))).toBe('r');
  });
});
