import { describe, expect, it } from 'vitest';
import { renderHtml, renderSummary } from '../../src/report.ts';
import type { Measurement, RunResults, TimelinePoint } from '../../src/results.ts';

/** A steady run with a little noise, one point per second. */
function timeline(seconds: number, rps: number, p99: number): TimelinePoint[] {
  return Array.from({ length: seconds }, (_, t) => ({
    t,
    rps: rps * (0.9 + 0.1 * Math.sin(t)),
    p50_ms: p99 / 4,
    p99_ms: p99 * (1 + 0.2 * Math.cos(t)),
    errors: t === 3 ? 2 : 0,
  }));
}

function measurement(over: Partial<Measurement> & Pick<Measurement, 'name' | 'kind'>): Measurement {
  return {
    mode: 'closed',
    client: 'http',
    connections: 64,
    duration_s: 10,
    requests: 123_450,
    rps: 12_345,
    p50_ms: 3.2,
    p95_ms: 8.7,
    p99_ms: 14.5,
    max_ms: 120.4,
    errors: 0,
    error_rate: 0,
    statuses: { '200': 123_450 },
    cpu_cores: { gateway: 0.62, tasks: 0.41, postgres: 0.9 },
    timeline: timeline(10, 12_345, 14.5),
    ...over,
  };
}

function fixture(): RunResults {
  return {
    version: 1,
    started_at: '2025-03-01T10:00:00Z',
    finished_at: '2025-03-01T10:04:00Z',
    profile: 'quick',
    machine: { cpus: 8, cpu_model: 'AMD EPYC 7763', memory_gb: 32, kernel: '6.8.0', node: 'v24.21.0' },
    parameters: { duration_s: 10, connections: 64, note: 'a & b' },
    dataset: { users: 10_000, tasks: 1_000_000, partitions: 16, seed_seconds: 42 },
    measurements: [
      measurement({ name: 'read-hot', kind: 'scenario', cache_hit_ratio: 0.97, replica_read_share: 0.8 }),
      measurement({
        name: 'write-open',
        kind: 'scenario',
        mode: 'open',
        target_rps: 2000,
        rps: 1998,
        p99_ms: 250,
        max_ms: 1800,
        errors: 12,
        error_rate: 0.0006,
        statuses: { '201': 19_968, '429': 10, error: 2 },
        peak_connections: 310,
        timeline: timeline(10, 2000, 250),
        notes: ['queue depth grew after 8 s'],
      }),
      // Empty timeline and none of the optional fields.
      measurement({ name: 'list-cold', kind: 'scenario', rps: 850, cpu_cores: {}, timeline: [] }),
      measurement({ name: 'ceiling-proxy-hello', kind: 'ceiling', rps: 41_000, p50_ms: 0.4, p99_ms: 1.1 }),
      measurement({
        name: 'ceiling-pg-write',
        kind: 'ceiling',
        client: 'pgbench',
        rps: 9_100,
        timeline: timeline(1, 9_100, 3),
      }),
    ],
    ratios: { 'read-hot/ceiling-proxy-hello': 0.3011, 'write-open/ceiling-pg-write': 0.2196 },
    targets: [
      { name: 'read p99', goal: '< 20 ms', measured: '14.5 ms', met: true },
      { name: 'write throughput', goal: '≥ 5,000 rps', measured: '1,998 rps', met: false },
    ],
  };
}

describe('renderHtml', () => {
  const html = renderHtml(fixture());

  it('is a complete page that names every measurement', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
    for (const m of fixture().measurements) expect(html).toContain(m.name);
  });

  it('draws the two overview charts and one timeline per measurement that has one', () => {
    // throughput + latency + 4 timelines (list-cold has none)
    expect(html.match(/<svg/g)).toHaveLength(6);
    expect(html).toContain('No timeline recorded');
    // one bar per measurement, ceilings in their own colour
    expect(html.match(/<rect /g)).toHaveLength(5);
    expect(new Set(html.match(/<rect [^>]*fill="(#[0-9a-f]+)"/g)?.map((r) => r.slice(-8))).size).toBe(2);
  });

  it('writes no NaN, Infinity or undefined, and uses no external resources', () => {
    expect(html).not.toMatch(/NaN|Infinity|undefined/);
    expect(html).not.toMatch(/<script|<link|src=|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  });

  it('formats numbers and optional fields', () => {
    expect(html).toContain('12,345');
    expect(html).toContain('0.30'); // ratio
    expect(html).toContain('97.0 %'); // cache hit ratio
    expect(html).toContain('postgres 0.90, gateway 0.62, tasks 0.41');
    expect(html).toContain('–'); // missing optional fields
    expect(html).toContain('✓');
    expect(html).toContain('✗');
    expect(html).toContain('queue depth grew after 8 s');
    expect(html).toContain('a &amp; b'); // parameters, escaped
  });

  it('escapes names', () => {
    const r = fixture();
    r.measurements[0]!.name = 'evil<script>alert(1)</script>';
    const out = renderHtml(r);
    expect(out).not.toContain('<script>');
    expect(out).toContain('evil&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('survives zeros and a single measurement', () => {
    const r = fixture();
    r.measurements = [
      measurement({
        name: 'idle',
        kind: 'scenario',
        rps: 0,
        p50_ms: 0,
        p95_ms: 0,
        p99_ms: 0,
        max_ms: 0,
        timeline: [{ t: 0, rps: 0, p50_ms: 0, p99_ms: 0, errors: 0 }],
      }),
    ];
    r.ratios = { 'idle/none': Number.POSITIVE_INFINITY };
    const out = renderHtml(r);
    expect(out).not.toMatch(/NaN|Infinity|undefined/);
    expect(out.match(/<svg/g)).toHaveLength(3);
    // Axes still drawn from 0 (throughput axis, both timeline axes), not collapsed by a zero maximum.
    expect(out.match(/class="tick"[^>]*>0<\/text>/g)?.length).toBeGreaterThanOrEqual(3);
  });
});

describe('renderSummary', () => {
  const text = renderSummary(fixture());
  const lines = text.trimEnd().split('\n');

  it('lists every measurement, ratio and target', () => {
    for (const m of fixture().measurements) expect(text).toMatch(new RegExp(`^${m.name} `, 'm'));
    for (const key of Object.keys(fixture().ratios)) expect(text).toContain(key);
    expect(text).toMatch(/^\s+met\s+read p99/m);
    expect(text).toMatch(/^\s+MISSED\s+write throughput/m);
  });

  it('is a short fixed-width table without colours', () => {
    const header = lines.find((l) => l.startsWith('name'));
    expect(header).toMatch(/^name\s+mode\s+conns\s+rps\s+p50\s+p95\s+p99\s+max\s+errors$/);
    // right-aligned numbers: every row ends where the header's `errors` ends
    const rows = lines.filter((l) => fixture().measurements.some((m) => l.startsWith(`${m.name} `)));
    expect(rows).toHaveLength(5);
    for (const row of rows) expect(row.length).toBe(header!.length);
    expect(lines.find((l) => l.startsWith('write-open'))).toMatch(/\s1,998\s.*\s12$/);
    expect(text).not.toContain('\u001b[');
    expect(lines.length).toBeLessThan(40);
  });
});
