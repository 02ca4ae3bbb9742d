// Renders a benchmark run (results.ts) two ways: a standalone HTML page with inline SVG charts, meant to
// be opened offline and kept next to the results file, and a short fixed-width table for the terminal.
// Everything is computed here in TypeScript: no chart library, no script in the page, no network.
import type { Measurement, RunResults, Target, TimelinePoint } from './results.ts';

/** Shown wherever a value is missing or not a finite number. */
const DASH = '–';

const COLOURS = {
  scenario: '#2563eb',
  ceiling: '#d97706',
  p50: '#16a34a',
  p95: '#d97706',
  p99: '#dc2626',
  grid: '#e5e7eb',
  axis: '#6b7280',
};

// ---------------------------------------------------------------------------------------------------
// Formatting

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Everything that comes from the results file goes through this: names and notes are free text. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

function isNum(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

/** A number safe to compute with: a missing or non-finite value counts as 0 in charts. */
function fin(x: number | undefined): number {
  return isNum(x) ? x : 0;
}

function fmtInt(n: number | undefined): string {
  return isNum(n) ? Math.round(n).toLocaleString('en-US') : DASH;
}

/** Fewer decimals as values grow: 0.42, 3.10, 12.3, 180, 1,234. */
function fmtMs(n: number | undefined): string {
  if (!isNum(n)) return DASH;
  const abs = Math.abs(n);
  if (abs >= 100) return fmtInt(n);
  return n.toFixed(abs >= 10 ? 1 : 2);
}

function fmtRatio(n: number | undefined): string {
  return isNum(n) ? n.toFixed(2) : DASH;
}

/** A 0..1 share as a percentage; error rates are small, so they get more decimals. */
function fmtPct(share: number | undefined, decimals = 1): string {
  return isNum(share) ? `${(share * 100).toFixed(decimals)} %` : DASH;
}

/** `gateway 0.62, tasks 0.41, …`: the busiest kind of process first. */
function fmtCpu(cores: Record<string, number> | undefined): string {
  const entries = Object.entries(cores ?? {}).filter(([, v]) => isNum(v));
  if (entries.length === 0) return DASH;
  return entries
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ');
}

/** Axis tick label: no trailing float noise (0.30000000000000004 → 0.3). */
function fmtTick(v: number): string {
  return v >= 1000 ? fmtInt(v) : String(Number(v.toPrecision(3)));
}

// ---------------------------------------------------------------------------------------------------
// SVG helpers

/** An SVG coordinate: rounded, and never NaN/Infinity even when the data is degenerate. */
function px(n: number): string {
  return isNum(n) ? String(Math.round(n * 10) / 10) : '0';
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/** The smallest 1, 2 or 5 × 10^k at or above x, so linear axes end on a round number (and never at 0). */
function niceCeil(x: number): number {
  if (!(x > 0) || !isNum(x)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 5]) if (m * p >= x * (1 - 1e-9)) return m * p;
  return 10 * p;
}

/** A linear axis from 0 ending on the first round tick at or above the data: 52,000 → 0…60,000 by 20,000. */
function linearAxis(dataMax: number, steps: number): { max: number; ticks: number[] } {
  const step = niceCeil(dataMax / steps);
  const n = Math.max(1, Math.ceil(dataMax / step - 1e-9));
  const ticks = Array.from({ length: n + 1 }, (_, i) => Number((i * step).toPrecision(12)));
  return { max: n * step, ticks };
}

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${px(x)}" y="${px(y)}" ${attrs}>${escapeHtml(content)}</text>`;
}

function line(x1: number, y1: number, x2: number, y2: number, stroke: string, extra = ''): string {
  return `<line x1="${px(x1)}" y1="${px(y1)}" x2="${px(x2)}" y2="${px(y2)}" stroke="${stroke}" ${extra}/>`;
}

function svg(width: number, height: number, body: string[], label: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${px(width)} ${px(height)}" ` +
    `width="${px(width)}" height="${px(height)}" role="img" aria-label="${escapeHtml(label)}">` +
    `${body.join('')}</svg>`
  );
}

const CHAR_W = 6.6; // approximate width of one 12px character, to size the label column

function barLabel(m: Measurement): string {
  return `${m.name} (${m.mode})`;
}

/** Wide enough for the longest label, within limits; longer labels are cut (full text in the tooltip). */
function labelColumn(labels: string[]): { width: number; maxChars: number } {
  const longest = Math.max(0, ...labels.map((l) => l.length));
  const width = clamp(longest * CHAR_W + 12, 100, 300);
  return { width, maxChars: Math.floor((width - 12) / CHAR_W) };
}

function truncate(s: string, maxChars: number): string {
  return s.length <= maxChars ? s : `${s.slice(0, Math.max(1, maxChars - 1))}…`;
}

// ---------------------------------------------------------------------------------------------------
// Charts

const ROW_H = 22;

/** Horizontal bars, one per measurement: ceilings in their own colour so the gap to them is visible. */
function throughputChart(ms: Measurement[]): string {
  if (ms.length === 0) return '<p class="muted">No measurements.</p>';
  const labels = ms.map(barLabel);
  const col = labelColumn(labels);
  const plotW = 560;
  const top = 6;
  const axisY = top + ms.length * ROW_H;
  const width = col.width + plotW + 80; // room for the value after the longest bar
  const height = axisY + 22;
  const axis = linearAxis(Math.max(0, ...ms.map((m) => fin(m.rps))), 5);
  const x = (v: number) => col.width + (plotW * clamp(v, 0, axis.max)) / axis.max;

  const body: string[] = [];
  for (const t of axis.ticks) {
    body.push(line(x(t), top, x(t), axisY, COLOURS.grid));
    body.push(text(x(t), axisY + 15, fmtTick(t), 'text-anchor="middle" class="tick"'));
  }
  ms.forEach((m, i) => {
    const y = top + i * ROW_H;
    const rps = fin(m.rps);
    const full = `${labels[i]}: ${fmtInt(m.rps)} rps`;
    body.push(text(col.width - 8, y + 15, truncate(labels[i] ?? '', col.maxChars), 'text-anchor="end"'));
    body.push(
      `<rect x="${px(col.width)}" y="${px(y + 3)}" width="${px(x(rps) - col.width)}" height="${ROW_H - 6}" ` +
        `fill="${COLOURS[m.kind]}"><title>${escapeHtml(full)}</title></rect>`,
    );
    body.push(text(x(rps) + 5, y + 15, fmtInt(m.rps), 'class="value"'));
  });
  body.push(line(col.width, axisY, col.width + plotW, axisY, COLOURS.axis));
  return svg(width, height, body, 'Throughput per measurement, requests per second');
}

/** Decade bounds around the data, so the log axis starts and ends on 10^k. */
function logDomain(values: number[]): [number, number] {
  const positive = values.filter((v) => isNum(v) && v > 0);
  if (positive.length === 0) return [0.1, 1];
  const lo = 10 ** Math.floor(Math.log10(Math.min(...positive)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...positive)));
  return [lo, hi > lo ? hi : lo * 10];
}

/** 1, 2, 5 in every decade of the domain. */
function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let d = lo; d <= hi * (1 + 1e-9); d *= 10) {
    for (const m of [1, 2, 5]) {
      const v = Number((m * d).toPrecision(3));
      if (v <= hi * (1 + 1e-9)) ticks.push(v);
    }
  }
  return ticks;
}

/** Dot plot, p50 · p95 · p99 per measurement on a log axis: latencies span several decades. */
function latencyChart(ms: Measurement[]): string {
  if (ms.length === 0) return '<p class="muted">No measurements.</p>';
  const labels = ms.map(barLabel);
  const col = labelColumn(labels);
  const plotW = 560;
  const top = 6;
  const axisY = top + ms.length * ROW_H;
  const width = col.width + plotW + 110;
  const height = axisY + 34;
  const [lo, hi] = logDomain(ms.flatMap((m) => [m.p50_ms, m.p95_ms, m.p99_ms]));
  const span = Math.log10(hi) - Math.log10(lo);
  // Zero or missing latencies sit at the left edge rather than producing -Infinity.
  const x = (v: number) => col.width + (plotW * (Math.log10(clamp(fin(v), lo, hi)) - Math.log10(lo))) / span;

  const body: string[] = [];
  for (const t of logTicks(lo, hi)) {
    // Powers of ten get a darker grid line, so decades are easy to read across rows.
    const major = Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9;
    body.push(line(x(t), top, x(t), axisY, major ? '#d1d5db' : COLOURS.grid));
    body.push(text(x(t), axisY + 15, fmtTick(t), 'text-anchor="middle" class="tick"'));
  }
  body.push(text(col.width + plotW / 2, axisY + 30, 'ms (log scale)', 'text-anchor="middle" class="tick"'));
  ms.forEach((m, i) => {
    const cy = top + i * ROW_H + ROW_H / 2;
    const full = `${labels[i]}: p50 ${fmtMs(m.p50_ms)} · p95 ${fmtMs(m.p95_ms)} · p99 ${fmtMs(m.p99_ms)} ms`;
    body.push(text(col.width - 8, cy + 4, truncate(labels[i] ?? '', col.maxChars), 'text-anchor="end"'));
    body.push(`<g><title>${escapeHtml(full)}</title>`);
    body.push(line(x(m.p50_ms), cy, x(m.p99_ms), cy, '#9ca3af', 'stroke-width="2"'));
    for (const [key, v] of [
      ['p50', m.p50_ms],
      ['p95', m.p95_ms],
      ['p99', m.p99_ms],
    ] as const) {
      body.push(`<circle cx="${px(x(v))}" cy="${px(cy)}" r="4.5" fill="${COLOURS[key]}"/>`);
    }
    body.push('</g>');
    body.push(text(col.width + plotW + 8, cy + 4, `p99 ${fmtMs(m.p99_ms)} ms`, 'class="value"'));
  });
  body.push(line(col.width, axisY, col.width + plotW, axisY, COLOURS.axis));
  return svg(width, height, body, 'Latency percentiles per measurement, milliseconds, log scale');
}

/** rps (left axis) and p99 (right axis) per second: shows warm-up, stalls and latency spikes. */
function timelineChart(points: TimelinePoint[]): string {
  if (points.length === 0) return '<p class="muted">No timeline recorded.</p>';
  const left = 52;
  const right = 52;
  const top = 22; // room for the axis units above the plot
  const plotW = 420;
  const plotH = 120;
  const width = left + plotW + right;
  const height = top + plotH + 24;
  const t0 = Math.min(...points.map((p) => fin(p.t)));
  const t1 = Math.max(...points.map((p) => fin(p.t)));
  const tSpan = t1 - t0 || 1; // a single point: avoid dividing by zero
  const rpsAxis = linearAxis(Math.max(0, ...points.map((p) => fin(p.rps))), 4);
  // The right axis gets as many intervals as the left one, so both share the grid lines.
  const intervals = rpsAxis.ticks.length - 1;
  const msStep = niceCeil(Math.max(0, ...points.map((p) => fin(p.p99_ms))) / intervals);
  const rpsMax = rpsAxis.max;
  const msMax = msStep * intervals;
  const x = (t: number) => left + (plotW * (fin(t) - t0)) / tSpan;
  const yRps = (v: number) => top + plotH * (1 - clamp(fin(v), 0, rpsMax) / rpsMax);
  const yMs = (v: number) => top + plotH * (1 - clamp(fin(v), 0, msMax) / msMax);
  const bottom = top + plotH;

  const body: string[] = [];
  for (const [i, v] of rpsAxis.ticks.entries()) {
    const y = yRps(v);
    body.push(line(left, y, left + plotW, y, COLOURS.grid));
    body.push(text(left - 6, y + 4, fmtTick(v), `text-anchor="end" class="tick" fill="${COLOURS.scenario}"`));
    body.push(text(left + plotW + 6, y + 4, fmtTick(i * msStep), `class="tick" fill="${COLOURS.p99}"`));
  }
  body.push(line(left, bottom, left + plotW, bottom, COLOURS.axis));
  body.push(text(left, bottom + 16, '0 s', 'text-anchor="start" class="tick"'));
  body.push(text(left + plotW, bottom + 16, `${fmtTick(t1 - t0)} s`, 'text-anchor="end" class="tick"'));
  body.push(text(left - 6, top - 10, 'rps', `text-anchor="end" class="tick" fill="${COLOURS.scenario}"`));
  body.push(text(left + plotW + 6, top - 10, 'p99 ms', `class="tick" fill="${COLOURS.p99}"`));

  const series = (
    y: (v: number) => number,
    pick: (p: TimelinePoint) => number,
    colour: string,
    dash = '',
  ) => {
    const coords = points.map((p) => `${px(x(p.t))},${px(y(pick(p)))}`).join(' ');
    body.push(`<polyline points="${coords}" fill="none" stroke="${colour}" stroke-width="1.6" ${dash}/>`);
    // A line needs two points; one second of data still shows as a dot.
    const only = points.length === 1 ? points[0] : undefined;
    if (only) body.push(`<circle cx="${px(x(only.t))}" cy="${px(y(pick(only)))}" r="3" fill="${colour}"/>`);
  };
  series(yRps, (p) => p.rps, COLOURS.scenario);
  series(yMs, (p) => p.p99_ms, COLOURS.p99, 'stroke-dasharray="4 3"');
  return svg(width, height, body, 'Requests per second and p99 latency over time');
}

// ---------------------------------------------------------------------------------------------------
// Page sections

/** `classes[i]` is the class of column i, e.g. `num` to right-align figures. */
function table(headers: string[], rows: string[][], classes: string[] = []): string {
  const cls = (i: number) => (classes[i] ? ` class="${classes[i]}"` : '');
  const head = headers.map((h, i) => `<th${cls(i)}>${escapeHtml(h)}</th>`).join('');
  // Cells are already HTML (escaped by the caller), so a cell can carry markup such as the ✓/✗ span.
  const body = rows.map((r) => `<tr>${r.map((c, i) => `<td${cls(i)}>${c}</td>`).join('')}</tr>`).join('\n');
  return `<div class="scroll"><table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table></div>`;
}

function header(r: RunResults): string {
  const m = r.machine;
  const machine = [
    `${fmtInt(m?.cpus)} CPUs`,
    m?.cpu_model,
    `${isNum(m?.memory_gb) ? m.memory_gb : DASH} GB RAM`,
    `kernel ${m?.kernel ?? DASH}`,
    `Node ${m?.node ?? DASH}`,
  ]
    .filter((s) => s !== undefined && s !== '')
    .join(' · ');
  const d = r.dataset;
  const dataset = [
    `${fmtInt(d?.users)} users`,
    `${fmtInt(d?.tasks)} tasks`,
    `${fmtInt(d?.partitions)} partitions`,
    ...(isNum(d?.seed_seconds) ? [`seeded in ${fmtInt(d.seed_seconds)} s`] : []),
  ].join(' · ');
  return [
    `<h1>Benchmark report <span class="muted">· profile ${escapeHtml(r.profile ?? DASH)}</span></h1>`,
    `<p>Started ${escapeHtml(r.started_at ?? DASH)} · finished ${escapeHtml(r.finished_at ?? DASH)}</p>`,
    `<p class="muted">${escapeHtml(machine)}</p>`,
    `<p><b>Dataset:</b> ${escapeHtml(dataset)}</p>`,
  ].join('\n');
}

function targetsSection(targets: Target[]): string {
  if (targets.length === 0) return '<p class="muted">No targets.</p>';
  const rows = targets.map((t) => [
    escapeHtml(t.name),
    escapeHtml(t.goal),
    escapeHtml(t.measured),
    t.met ? '<span class="ok">✓ met</span>' : '<span class="bad">✗ missed</span>',
  ]);
  return table(['Target', 'Goal', 'Measured', 'Met'], rows);
}

function ratiosSection(ratios: Record<string, number>): string {
  const entries = Object.entries(ratios);
  if (entries.length === 0) return '<p class="muted">No ratios.</p>';
  return table(
    ['Scenario / ceiling', 'Throughput ratio'],
    entries.map(([k, v]) => [escapeHtml(k), fmtRatio(v)]),
    ['', 'num'],
  );
}

function statusesText(statuses: Record<string, number> | undefined): string {
  const entries = Object.entries(statuses ?? {});
  return entries.length === 0 ? DASH : entries.map(([code, n]) => `${code}: ${fmtInt(n)}`).join(', ');
}

/** One card per measurement: key figures beside its timeline. */
function measurementCard(m: Measurement, i: number): string {
  const facts: [string, string][] = [
    ['Kind', `${m.kind} · ${m.mode} · ${m.client}`],
    ['Connections', fmtInt(m.connections)],
    ...(m.target_rps !== undefined ? ([['Target rps', fmtInt(m.target_rps)]] as [string, string][]) : []),
    ['Duration', `${fmtInt(m.duration_s)} s · ${fmtInt(m.requests)} requests`],
    ['Throughput', `${fmtInt(m.rps)} rps`],
    [
      'Latency',
      `p50 ${fmtMs(m.p50_ms)} · p95 ${fmtMs(m.p95_ms)} · p99 ${fmtMs(m.p99_ms)} · max ${fmtMs(m.max_ms)} ms`,
    ],
    ['Errors', `${fmtInt(m.errors)} (${fmtPct(m.error_rate, 2)})`],
    ['Statuses', statusesText(m.statuses)],
  ];
  const dl = facts.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('');
  return [
    `<section class="card" id="m-${i}">`,
    `<h3>${escapeHtml(m.name)}</h3>`,
    `<div class="card-body"><dl>${dl}</dl><figure>${timelineChart(m.timeline ?? [])}</figure></div>`,
    '</section>',
  ].join('\n');
}

function measurementsTable(ms: Measurement[]): string {
  const headers = [
    'Name',
    'Kind',
    'Mode',
    'Client',
    'Conns',
    'Target rps',
    'rps',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    'max ms',
    'Errors',
    'Error rate',
    'Cache hits',
    'Replica reads',
    'Peak conns',
    'CPU cores',
  ];
  const rows = ms.map((m) =>
    [
      m.name,
      m.kind,
      m.mode,
      m.client,
      fmtInt(m.connections),
      fmtInt(m.target_rps),
      fmtInt(m.rps),
      fmtMs(m.p50_ms),
      fmtMs(m.p95_ms),
      fmtMs(m.p99_ms),
      fmtMs(m.max_ms),
      fmtInt(m.errors),
      fmtPct(m.error_rate, 2),
      fmtPct(m.cache_hit_ratio),
      fmtPct(m.replica_read_share),
      fmtInt(m.peak_connections),
      fmtCpu(m.cpu_cores),
    ].map(escapeHtml),
  );
  // Figures right-aligned; the text columns (name … client, and the CPU list) left-aligned.
  const classes = headers.map((_, i) => (i < 4 || i === headers.length - 1 ? '' : 'num'));
  return table(headers, rows, classes);
}

function notesSection(ms: Measurement[]): string {
  const items = ms.flatMap((m) =>
    (m.notes ?? []).map((n) => `<li><b>${escapeHtml(m.name)}:</b> ${escapeHtml(n)}</li>`),
  );
  return items.length === 0 ? '<p class="muted">No notes.</p>' : `<ul>\n${items.join('\n')}\n</ul>`;
}

function legend(items: [string, string][]): string {
  return `<p class="legend">${items
    .map(([colour, label]) => `<span><i style="background:${colour}"></i>${escapeHtml(label)}</span>`)
    .join('')}</p>`;
}

const CSS = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111827;
  margin: 0 auto; padding: 24px; max-width: 1200px; }
h1 { font-size: 22px; margin: 0 0 8px; }
h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid #e5e7eb; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 0 0 8px; }
p { margin: 4px 0; }
.muted { color: #6b7280; }
.ok { color: #15803d; font-weight: 600; }
.bad { color: #b91c1c; font-weight: 600; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e5e7eb; text-align: left; white-space: nowrap; }
th { background: #f9fafb; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
svg { max-width: 100%; height: auto; font-size: 12px; fill: #111827; }
svg .tick { font-size: 11px; fill: #6b7280; }
svg .value { font-size: 11px; }
.legend span { margin-right: 16px; font-size: 13px; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 5px; border-radius: 2px; }
.card { border: 1px solid #e5e7eb; border-radius: 6px; padding: 12px 14px; margin: 12px 0; }
.card-body { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.card figure { margin: 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; min-width: 320px;
  flex: 1; font-size: 13px; }
dt { color: #6b7280; }
dd { margin: 0; font-variant-numeric: tabular-nums; }
pre { background: #f9fafb; border: 1px solid #e5e7eb; padding: 10px; overflow-x: auto; font-size: 12px; }
`;

/** The whole report as one HTML document: inline CSS and SVG only, so it opens offline from disk. */
export function renderHtml(results: RunResults): string {
  const ms = results.measurements ?? [];
  const parameters = JSON.stringify(results.parameters ?? {}, null, 2) ?? '{}';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Benchmark report · ${escapeHtml(results.profile ?? '')} · ${escapeHtml(results.started_at ?? '')}</title>
<style>${CSS}</style>
</head>
<body>
<header>
${header(results)}
</header>
<h2>Targets</h2>
${targetsSection(results.targets ?? [])}
<h2>Ratios</h2>
${ratiosSection(results.ratios ?? {})}
<h2>Throughput</h2>
${legend([
  [COLOURS.scenario, 'scenario'],
  [COLOURS.ceiling, 'ceiling'],
])}
${throughputChart(ms)}
<h2>Latency</h2>
${legend([
  [COLOURS.p50, 'p50'],
  [COLOURS.p95, 'p95'],
  [COLOURS.p99, 'p99'],
])}
${latencyChart(ms)}
<h2>Measurements over time</h2>
${legend([
  [COLOURS.scenario, 'requests/s (left axis)'],
  [COLOURS.p99, 'p99 ms (right axis, dashed)'],
])}
${ms.map(measurementCard).join('\n')}
<h2>All measurements</h2>
${measurementsTable(ms)}
<h2>Notes</h2>
${notesSection(ms)}
<h2>Parameters</h2>
<pre>${escapeHtml(parameters)}</pre>
</body>
</html>
`;
}

// ---------------------------------------------------------------------------------------------------
// Terminal summary

/** Pads every column to its widest cell: text left-aligned, numbers right-aligned. */
function textTable(rows: string[][], rightAligned: boolean[]): string[] {
  const widths: number[] = [];
  for (const r of rows) {
    for (const [i, c] of r.entries()) widths[i] = Math.max(widths[i] ?? 0, c.length);
  }
  return rows.map((r) =>
    r
      .map((c, i) => (rightAligned[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

/** A few dozen plain lines for the terminal at the end of a run; the HTML page has the rest. */
export function renderSummary(results: RunResults): string {
  const ms = results.measurements ?? [];
  const lines = [
    `Benchmark · profile ${results.profile ?? DASH} · started ${results.started_at ?? DASH}`,
    '',
  ];

  const rows = [
    ['name', 'mode', 'conns', 'rps', 'p50', 'p95', 'p99', 'max', 'errors'],
    ...ms.map((m) => [
      m.name,
      m.mode,
      fmtInt(m.connections),
      fmtInt(m.rps),
      fmtMs(m.p50_ms),
      fmtMs(m.p95_ms),
      fmtMs(m.p99_ms),
      fmtMs(m.max_ms),
      fmtInt(m.errors),
    ]),
  ];
  lines.push(...textTable(rows, [false, false, true, true, true, true, true, true, true]));
  lines.push('(latencies in ms)');

  const ratios = Object.entries(results.ratios ?? {});
  if (ratios.length > 0) {
    lines.push('', 'Ratios');
    lines.push(
      ...textTable(
        ratios.map(([k, v]) => ['', k, fmtRatio(v)]),
        [false, false, true],
      ),
    );
  }

  const targets = results.targets ?? [];
  if (targets.length > 0) {
    lines.push('', 'Targets');
    const trows = targets.map((t) => ['', t.met ? 'met' : 'MISSED', t.name, t.measured, `(goal ${t.goal})`]);
    lines.push(...textTable(trows, [false, false, false, false, false]));
  }
  return `${lines.join('\n')}\n`;
}
