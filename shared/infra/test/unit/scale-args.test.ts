// The pure parts of runtime scaling (src/scale.ts, components/services.ts): what a scale request may
// say, where replica k listens, and how a gateway's /metrics tells which replicas it balances over.
import { describe, expect, it } from 'vitest';
import { LAST_PORT_OFFSET, MAX_REPLICAS, replicaPort } from '../../src/components/services.ts';
import { parseScaleArgs, ScaleError, upstreamsListed, validateTargets } from '../../src/scale.ts';

/** The ScaleError `run` throws. */
function scaleError(run: () => unknown): ScaleError {
  try {
    run();
  } catch (err) {
    if (err instanceof ScaleError) return err;
    throw err;
  }
  throw new Error('no ScaleError');
}

describe('scale arguments', () => {
  it('reads service=N words', () => {
    expect(parseScaleArgs(['tasks=4', 'gateway=3', 'users=1', 'worker=8'])).toEqual({
      tasks: 4,
      gateway: 3,
      users: 1,
      worker: 8,
    });
  });

  it('reports every bad word at once, with exit code 2', () => {
    const err = scaleError(() => parseScaleArgs(['nginx=2', 'tasks=0', 'gateway=9', 'users=-1', 'worker=x']));
    expect(err.exitCode).toBe(2);
    expect(err.message.split('\n')).toEqual([
      expect.stringMatching(/^nginx: not a scalable service \(scalable: tasks, worker, users, gateway/),
      'tasks=0: the count must be a whole number from 1 to 8',
      'gateway=9: the count must be a whole number from 1 to 8',
      'users=-1: the count must be a whole number from 1 to 8',
      'worker=x: the count must be a whole number from 1 to 8',
    ]);
  });

  it.each([
    [['tasks'], /"tasks": expected service=N/],
    [['tasks=2', 'tasks=3'], /tasks: given twice/],
    [[], /nothing to scale/],
    [['tasks=1.5'], /tasks=1.5: the count must be/],
  ])('refuses %j', (args, message) => {
    expect(() => parseScaleArgs(args)).toThrow(message);
  });

  it('checks a program’s targets the same way', () => {
    expect(validateTargets({ tasks: 2 })).toEqual({ tasks: 2 });
    expect(scaleError(() => validateTargets({ tasks: 2.5 })).exitCode).toBe(2);
    expect(scaleError(() => validateTargets({ postgres: 2 })).exitCode).toBe(2);
  });
});

describe('the port layout', () => {
  it('puts replica k of a service at base + offset + k − 1, in blocks that never overlap', () => {
    expect(replicaPort(21_000, 'tasks', 1)).toBe(21_100);
    expect(replicaPort(21_000, 'tasks', MAX_REPLICAS)).toBe(21_107);
    expect(replicaPort(21_000, 'worker', 1)).toBe(21_110);
    expect(replicaPort(21_000, 'users', 3)).toBe(21_122);
    expect(replicaPort(21_000, 'gateway', MAX_REPLICAS)).toBe(21_000 + LAST_PORT_OFFSET);
    const all = (['tasks', 'worker', 'users', 'gateway'] as const).flatMap((s) =>
      Array.from({ length: MAX_REPLICAS }, (_, i) => replicaPort(0, s, i + 1)),
    );
    expect(new Set(all).size).toBe(all.length);
    expect(Math.min(...all)).toBeGreaterThan(77); // above the exporters (base+70…77)
  });

  it('has no replica 0 or beyond the bound', () => {
    expect(() => replicaPort(21_000, 'tasks', 0)).toThrow(/1 to 8/);
    expect(() => replicaPort(21_000, 'tasks', MAX_REPLICAS + 1)).toThrow(/1 to 8/);
  });
});

describe("a gateway's upstreams from its /metrics", () => {
  const metrics = [
    '# HELP gateway_circuit_breaker_state Circuit breaker of each replica',
    '# TYPE gateway_circuit_breaker_state gauge',
    'gateway_circuit_breaker_state{service="tasks",upstream="127.0.0.1:21100"} 0',
    'gateway_circuit_breaker_state{service="tasks",upstream="127.0.0.1:21102"} 2',
    'gateway_circuit_breaker_state{upstream="127.0.0.1:21120",service="users"} 0',
    'gateway_upstream_open_circuits{service="tasks"} 1',
  ].join('\n');

  it('lists the members of one service, whatever their breaker state or label order', () => {
    expect(upstreamsListed(metrics, 'tasks')).toEqual(new Set(['127.0.0.1:21100', '127.0.0.1:21102']));
    expect(upstreamsListed(metrics, 'users')).toEqual(new Set(['127.0.0.1:21120']));
    expect(upstreamsListed(metrics, 'worker')).toEqual(new Set());
  });
});
