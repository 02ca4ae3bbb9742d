// A small builder for Grafana's dashboard JSON model (schema 39): only what our dashboards use, so every
// panel comes out the same way — a unit, the datasource through the `${datasource}` variable, rates over
// `$__rate_interval`, and a layout computed from the order panels are declared in.
//
// Why not @grafana/grafana-foundation-sdk: it models every panel option of every Grafana version; ours
// need a handful, and this file keeps the generated JSON reviewable line by line.

/** Every query goes through the dashboard's datasource variable (provisioned uid `prometheus`). */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's own variable syntax, not a JS template.
export const DATASOURCE = { type: 'prometheus', uid: '${datasource}' } as const;
export const SCHEMA_VERSION = 39;

export interface Target {
  /** PromQL. Rates use `[$__rate_interval]`; filters use the dashboard's variables. */
  expr: string;
  legend?: string;
}

interface PanelBase {
  title: string;
  /** What the panel answers, shown on hover in Grafana. */
  description: string;
  /** A Grafana unit id: s, bytes, reqps, percentunit, … */
  unit: string;
  targets: Target[];
  /** Width out of 24 (default 8: three panels a row). */
  width?: number;
  min?: number;
  max?: number;
  /** Value → text, for states (0 closed, 2 open…). */
  mappings?: Record<string, string>;
  /** Red from this value up (a threshold line or colour). */
  redFrom?: number;
}

export interface TimeseriesSpec extends PanelBase {
  kind: 'timeseries';
  stack?: boolean;
}
export interface StatSpec extends PanelBase {
  kind: 'stat';
}
export type PanelSpec = TimeseriesSpec | StatSpec;

export interface RowSpec {
  row: string;
  panels: PanelSpec[];
}

export interface DashboardSpec {
  uid: string;
  title: string;
  description: string;
  /** The jobs this dashboard is about: the `job` variable offers these (when Prometheus has them). */
  jobs: string[];
  rows: RowSpec[];
}

export const timeseries = (spec: Omit<TimeseriesSpec, 'kind'>): TimeseriesSpec => ({
  kind: 'timeseries',
  ...spec,
});
export const stat = (spec: Omit<StatSpec, 'kind'>): StatSpec => ({ kind: 'stat', ...spec });

const HEIGHT = { timeseries: 8, stat: 5 } as const;

function mappings(values: Record<string, string> | undefined) {
  if (!values) return [];
  const options: Record<string, { text: string; index: number }> = {};
  Object.entries(values).forEach(([value, text], index) => {
    options[value] = { text, index };
  });
  return [{ type: 'value', options }];
}

function thresholds(redFrom: number | undefined) {
  const steps: { color: string; value: number | null }[] = [{ color: 'green', value: null }];
  if (redFrom !== undefined) steps.push({ color: 'red', value: redFrom });
  return { mode: 'absolute', steps };
}

function panelJson(spec: PanelSpec, id: number, gridPos: { h: number; w: number; x: number; y: number }) {
  const defaults: Record<string, unknown> = {
    unit: spec.unit,
    mappings: mappings(spec.mappings),
    thresholds: thresholds(spec.redFrom),
    color: { mode: spec.kind === 'stat' ? 'thresholds' : 'palette-classic' },
  };
  if (spec.min !== undefined) defaults.min = spec.min;
  if (spec.max !== undefined) defaults.max = spec.max;
  if (spec.kind === 'timeseries') {
    defaults.custom = {
      drawStyle: 'line',
      lineWidth: 1,
      fillOpacity: spec.stack ? 30 : 10,
      showPoints: 'never',
      spanNulls: false,
      stacking: { mode: spec.stack ? 'normal' : 'none', group: 'A' },
      thresholdsStyle: { mode: spec.redFrom === undefined ? 'off' : 'line' },
    };
  }
  const options =
    spec.kind === 'timeseries'
      ? {
          legend: { displayMode: 'list', placement: 'bottom', showLegend: true, calcs: [] },
          tooltip: { mode: 'multi', sort: 'desc' },
        }
      : {
          reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
          colorMode: 'value',
          graphMode: 'area',
          justifyMode: 'auto',
          orientation: 'auto',
          textMode: 'auto',
        };
  return {
    id,
    type: spec.kind,
    title: spec.title,
    description: spec.description,
    datasource: DATASOURCE,
    gridPos,
    fieldConfig: { defaults, overrides: [] },
    options,
    targets: spec.targets.map((t, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: DATASOURCE,
      expr: t.expr,
      legendFormat: t.legend ?? '__auto',
      range: true,
      instant: false,
      editorMode: 'code',
    })),
  };
}

function variable(name: string, label: string, query: string) {
  return {
    name,
    label,
    type: 'query',
    datasource: DATASOURCE,
    definition: query,
    // The classic string form: every Grafana version reads it (and converts it for its query editor).
    query,
    refresh: 2,
    includeAll: true,
    multi: true,
    current: { selected: true, text: ['All'], value: ['$__all'] },
    sort: 1,
    regex: '',
    hide: 0,
    options: [],
  };
}

/** The dashboard JSON as Grafana stores it; panels flow left to right, rows stacked. */
export function dashboardJson(spec: DashboardSpec) {
  const panels: unknown[] = [];
  let id = 1;
  let y = 0;
  for (const row of spec.rows) {
    panels.push({
      id: id++,
      type: 'row',
      title: row.row,
      collapsed: false,
      gridPos: { h: 1, w: 24, x: 0, y },
      panels: [],
    });
    y += 1;
    let x = 0;
    let rowHeight = 0;
    for (const panel of row.panels) {
      const w = panel.width ?? 8;
      if (x + w > 24) {
        y += rowHeight;
        x = 0;
        rowHeight = 0;
      }
      const h = HEIGHT[panel.kind];
      panels.push(panelJson(panel, id++, { h, w, x, y }));
      x += w;
      rowHeight = Math.max(rowHeight, h);
    }
    y += rowHeight;
  }
  const jobs = spec.jobs.join('|');
  return {
    uid: spec.uid,
    title: spec.title,
    description: spec.description,
    tags: ['taskfleet'],
    timezone: 'browser',
    editable: false,
    graphTooltip: 1,
    schemaVersion: SCHEMA_VERSION,
    version: 1,
    refresh: '30s',
    time: { from: 'now-1h', to: 'now' },
    timepicker: {},
    links: [
      { type: 'dashboards', tags: ['taskfleet'], title: 'Taskfleet', asDropdown: true, includeVars: true },
    ],
    annotations: { list: [] },
    templating: {
      list: [
        {
          name: 'datasource',
          label: 'Data source',
          type: 'datasource',
          query: 'prometheus',
          current: { selected: true, text: 'Prometheus', value: 'prometheus' },
          hide: 0,
          regex: '',
          options: [],
        },
        // `up` has a series for every scraped target, so the lists hold every replica Prometheus knows.
        variable('job', 'Job', `label_values(up{job=~"${jobs}"}, job)`),
        variable('instance', 'Instance', 'label_values(up{job=~"$job"}, instance)'),
      ],
    },
    panels,
  };
}
