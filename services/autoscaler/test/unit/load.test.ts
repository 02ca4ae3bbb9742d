// A service's load from Prometheus's numbers: each signal per replica as a fraction of its target.
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../../src/policy.ts';
import { loadOf, queries } from '../../src/prometheus.ts';

describe('loadOf', () => {
  it('is the highest signal, each per replica and a fraction of its target', () => {
    // 4 replicas: 1.4 cores in all (0.35 each of a 0.5-core limit: 0.7 of it, 1.0 of the 70 % target);
    // 300 MiB of 512 MiB (0.586 of it, 0.73 of the 80 % target); 2,000 req/s (500 each: 0.5).
    const { load, signals } = loadOf(
      DEFAULT_POLICY,
      { cpuLimit: 0.5, memoryLimit: 512 * 2 ** 20 },
      { up: 4, cpu: 1.4, memory: 300 * 2 ** 20, rps: 2000 },
    );
    expect(signals.cpu).toBeCloseTo(1.0);
    expect(signals.memory).toBeCloseTo(300 / 512 / 0.8);
    expect(signals.rps).toBeCloseTo(0.5);
    expect(load).toBeCloseTo(1.0);
  });

  it('leaves memory out of the load that decides a scale down', () => {
    const { load, downLoad } = loadOf(
      DEFAULT_POLICY,
      { cpuLimit: 1, memoryLimit: 256 * 2 ** 20 },
      { up: 3, cpu: 0.03, memory: 130 * 2 ** 20, rps: 3 },
    );
    expect(load).toBeCloseTo(130 / 256 / 0.8);
    expect(downLoad).toBeCloseTo(Math.max(0.01 / 0.7, 1 / 1000));
  });

  it('takes one core without a CPU limit and leaves memory out without a memory limit', () => {
    const { load, signals } = loadOf(DEFAULT_POLICY, {}, { up: 2, cpu: 0.7, memory: 1e9 });
    expect(signals).toEqual({ cpu: 0.5 });
    expect(load).toBeCloseTo(0.5);
  });

  it('has no data without a replica up or without any signal', () => {
    expect(loadOf(DEFAULT_POLICY, {}, undefined).load).toBeUndefined();
    expect(loadOf(DEFAULT_POLICY, {}, { up: 0, cpu: 1 }).load).toBeUndefined();
    expect(loadOf(DEFAULT_POLICY, {}, { up: 2 }).load).toBeUndefined();
  });

  it('queries every job at once, the job names as literals', () => {
    const q = queries(['tasks', 'a.b'], '1m');
    expect(q.cpu).toBe('sum by (job) (rate(process_cpu_seconds_total{job=~"tasks|a\\\\.b"}[1m]))');
    expect(q.rps).toContain('route!~"/health/.+|/metrics"');
  });
});
