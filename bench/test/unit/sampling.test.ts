// The benchmark's statistics: which tasks are hot (the Zipf draw) and how latencies are summarised.
import { createHistogram } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { latencyMs } from '../../src/load.ts';
import { zipfSampler } from '../../src/scenarios.ts';

/** A seeded uniform stream (mulberry32): the same draws on every run, so the counts are exact. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** P(k) = (1/(k+1)^s) / H(n, s), the distribution zipfSampler should draw from. */
function zipfProbabilities(n: number, s: number): number[] {
  const weights = Array.from({ length: n }, (_, k) => 1 / (k + 1) ** s);
  const total = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => w / total);
}

function counts(draw: () => number, n: number, draws: number): number[] {
  const out = new Array<number>(n).fill(0);
  for (let i = 0; i < draws; i++) out[draw()]!++;
  return out;
}

describe('zipfSampler', () => {
  const n = 200;
  const s = 1.1; // the profiles' skew
  const draws = 200_000;
  const observed = counts(zipfSampler(n, s, seeded(1)), n, draws);
  const expected = zipfProbabilities(n, s);

  it('draws only ranks 0…n-1', () => {
    expect(observed.reduce((a, b) => a + b, 0)).toBe(draws);
  });

  it('matches the Zipf frequencies of the hot ranks within sampling error', () => {
    for (let k = 0; k < 20; k++) {
      const p = expected[k]!;
      const sd = Math.sqrt((p * (1 - p)) / draws);
      expect(Math.abs(observed[k]! / draws - p)).toBeLessThan(4 * sd);
    }
  });

  it('fits the whole distribution (chi-squared well below its 0.1 % critical value)', () => {
    let chi2 = 0;
    for (let k = 0; k < n; k++) chi2 += (observed[k]! - draws * expected[k]!) ** 2 / (draws * expected[k]!);
    // 199 degrees of freedom: mean 199, 0.999 quantile ≈ 268. A sampler off by one rank scores in the
    // tens of thousands.
    expect(chi2).toBeLessThan(268);
  });

  it('makes lower ranks more frequent', () => {
    for (let k = 0; k < 10; k++) expect(observed[k]!).toBeGreaterThan(observed[k + 1]!);
    expect(observed[0]! / observed[1]!).toBeCloseTo(2 ** s, 1);
  });

  it('maps the ends of the unit interval to the first and last rank', () => {
    expect(zipfSampler(n, s, () => 0)()).toBe(0);
    expect(zipfSampler(n, s, () => 0.999_999_999)()).toBe(n - 1);
  });

  it('splits the interval at the cumulative probabilities', () => {
    const cdf0 = expected[0]!;
    expect(zipfSampler(n, s, () => cdf0 - 1e-9)()).toBe(0);
    expect(zipfSampler(n, s, () => cdf0 + 1e-9)()).toBe(1);
  });

  it('is uniform for s = 0 and constant for one rank', () => {
    const uniform = counts(zipfSampler(10, 0, seeded(7)), 10, 50_000);
    for (const c of uniform) expect(Math.abs(c - 5_000)).toBeLessThan(4 * Math.sqrt(5_000 * 0.9));
    const one = zipfSampler(1, s, seeded(3));
    for (let i = 0; i < 100; i++) expect(one()).toBe(0);
  });
});

describe('latencyMs', () => {
  /** A histogram as the load generator keeps it: microseconds, 1 µs to 120 s, 3 significant digits. */
  function histogramOf(microseconds: readonly number[]) {
    const h = createHistogram({ lowest: 1, highest: 120_000_000, figures: 3 });
    for (const us of microseconds) h.record(us);
    return h;
  }

  it('reports zeros for a run without requests', () => {
    expect(latencyMs(histogramOf([]))).toEqual({ p50: 0, p95: 0, p99: 0, max: 0 });
  });

  it('gives the percentiles of known data in milliseconds', () => {
    // 1 ms, 2 ms, …, 1000 ms: the p-th percentile is p × 10 ms.
    const h = histogramOf(Array.from({ length: 1000 }, (_, i) => (i + 1) * 1000));
    const l = latencyMs(h);
    // Three significant digits: each value within 0.1 % of the exact one.
    expect(l.p50).toBeGreaterThanOrEqual(500 * 0.999);
    expect(l.p50).toBeLessThanOrEqual(500 * 1.001);
    expect(l.p95).toBeGreaterThanOrEqual(950 * 0.999);
    expect(l.p95).toBeLessThanOrEqual(950 * 1.001);
    expect(l.p99).toBeGreaterThanOrEqual(990 * 0.999);
    expect(l.p99).toBeLessThanOrEqual(990 * 1.001);
    expect(l.max).toBeGreaterThanOrEqual(1000 * 0.999);
    expect(l.max).toBeLessThanOrEqual(1000 * 1.001);
  });

  it('lets a slow tail show at p99 and max but not at the median', () => {
    // 98.5 % of requests at 2 ms, 1.5 % at 800 ms: a stall the median must hide and p99 must not.
    const h = histogramOf([...new Array<number>(985).fill(2_000), ...new Array<number>(15).fill(800_000)]);
    const l = latencyMs(h);
    expect(l.p50).toBeCloseTo(2, 1);
    expect(l.p95).toBeCloseTo(2, 1);
    expect(l.p99).toBeGreaterThan(799);
    expect(l.max).toBeGreaterThan(799);
  });

  it('keeps sub-millisecond latencies', () => {
    const l = latencyMs(histogramOf([250, 250, 250, 250]));
    expect(l.p50).toBeCloseTo(0.25, 3);
    expect(l.max).toBeCloseTo(0.25, 3);
  });
});
