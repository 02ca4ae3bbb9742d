// The provisioned Grafana dashboards (grafana/dashboards/*.json) as the tests read them: every query with
// where it comes from, the lint every dashboard must pass, Grafana's variable expansion, and the metric
// names a query reads. Shared by the lint (test/unit/dashboards.test.ts) and the test against a real
// Prometheus (test/dashboards.test.ts).
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { binary, repoPath } from '@taskfleet/infra';

const exec = promisify(execFile);

export const DASHBOARDS_DIR = repoPath('grafana/dashboards');

/**
 * Panels (`<uid> › <title>`) or single queries (`… › <refId>`) that a healthy stack under a short load
 * rightly leaves empty, and why. Each must name a real panel (a stale entry fails the test), and
 * docs/operations.md lists them (test/unit/dashboards.test.ts holds the two together).
 */
export const MAY_BE_EMPTY: Record<string, string> = {
  'taskfleet-overview › Error ratio by service › B': 'no 5xx on a healthy stack',
  'taskfleet-edge › Retries': 'a retry needs a replica that fails or times out',
  'taskfleet-edge › Load shed': 'the gateways shed only when their event loop is late',
  'taskfleet-data-path › Cache errors': 'Redis answers every cache operation',
  'taskfleet-data-path › Replica read failures': 'no replica fails a read',
  'taskfleet-data-path › Consistency-token store errors': 'Redis answers every read-your-writes lookup',
  'taskfleet-events › Dead letters › A': 'no invalidation keeps failing',
  'taskfleet-overview › Trace spans exported and dropped › B':
    'no span is dropped while the exporter keeps up',
  'taskfleet-autoscaler › Scaling actions':
    'it scales only when the load stays past a threshold for its period (and here it runs in dry run)',
  'taskfleet-autoscaler › Scale errors': 'no update is refused or fails on a healthy stack',
};

export interface DashboardTarget {
  refId: string;
  expr: string;
  datasource?: { type?: string; uid?: string };
}
export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  fieldConfig?: { defaults?: { unit?: string } };
  gridPos?: { x: number; y: number; w: number; h: number };
  targets?: DashboardTarget[];
  panels?: DashboardPanel[];
}
export interface DashboardVariable {
  name: string;
  type: string;
  query?: string | { query: string };
  datasource?: { type?: string; uid?: string };
  current?: { value?: string | string[] };
}
export interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  templating: { list: DashboardVariable[] };
  panels: DashboardPanel[];
}

/** One query of one panel: `key` names it in reports and in the allow-list. */
export interface PanelQuery {
  dashboard: Dashboard;
  panel: DashboardPanel;
  target: DashboardTarget;
  key: string;
}

export function loadDashboards(dir = DASHBOARDS_DIR): Map<string, Dashboard> {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  return new Map(files.map((f) => [f, JSON.parse(readFileSync(join(dir, f), 'utf8')) as Dashboard]));
}

/** Panels with queries (rows hold none), including those folded inside collapsed rows. */
export function queryPanels(dashboard: Dashboard): DashboardPanel[] {
  return dashboard.panels.flatMap((p) => (p.type === 'row' ? (p.panels ?? []) : [p]));
}

export const panelKey = (dashboard: Dashboard, panel: DashboardPanel) => `${dashboard.uid} › ${panel.title}`;

export function panelQueries(dashboards: Iterable<Dashboard>): PanelQuery[] {
  return [...dashboards].flatMap((dashboard) =>
    queryPanels(dashboard).flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({
        dashboard,
        panel,
        target,
        key: `${panelKey(dashboard, panel)} › ${target.refId}`,
      })),
    ),
  );
}

export const variableQuery = (v: DashboardVariable) =>
  (typeof v.query === 'string' ? v.query : v.query?.query) ?? '';

/** Variables Grafana defines itself (https://grafana.com/docs/grafana/latest/dashboards/variables/add-template-variables/#global-variables). */
const GLOBAL_VARIABLES = new Set([
  '__rate_interval',
  '__interval',
  '__interval_ms',
  '__range',
  '__range_s',
  '__range_ms',
  '__from',
  '__to',
  '__dashboard',
]);
/** The only windows a range selector may have: Grafana's, which follow the time range and scrape interval. */
const WINDOW_VARIABLES = new Set(['$__rate_interval', '$__range', '$__interval']);

/** `$name`, `${name}`, `${name:format}` and `[[name]]` references in a string. */
export function variablesUsed(text: string): string[] {
  return [...text.matchAll(/\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)\]\]/g)].map(
    (m) => (m[1] ?? m[2] ?? m[3])!,
  );
}

/** Range selectors and subquery windows of an expression: `[5m]`, `[$__rate_interval]`, `[1h:1m]`. */
export function windowsOf(expr: string): string[] {
  return [...stripStrings(expr).matchAll(/\[([^\]]*)\]/g)].map((m) => m[1]!.trim());
}

/** Everything wrong with one dashboard, each problem one line; [] when it passes. */
export function lintDashboard(dashboard: Dashboard, datasourceUid: string): string[] {
  const problems: string[] = [];
  const where = (panel?: DashboardPanel) =>
    panel ? panelKey(dashboard, panel) : dashboard.uid || '(no uid)';
  if (!dashboard.uid) problems.push(`${where()}: no uid`);
  if (!(dashboard.schemaVersion >= 39))
    problems.push(`${where()}: schemaVersion ${dashboard.schemaVersion} < 39`);
  const variables = dashboard.templating?.list ?? [];
  const defined = new Set(variables.map((v) => v.name));
  const datasourceVariable = variables.find((v) => v.type === 'datasource');
  if (!datasourceVariable) problems.push(`${where()}: no datasource variable`);
  else if (datasourceVariable.query !== 'prometheus')
    problems.push(`${where()}: the datasource variable is not Prometheus`);
  for (const name of ['job', 'instance']) {
    const v = variables.find((x) => x.name === name);
    if (v?.type !== 'query' || !/^label_values\(/.test(variableQuery(v)))
      problems.push(`${where()}: no ${name} query variable (label_values(...))`);
  }
  const okDatasource = (ds: { type?: string; uid?: string } | undefined) =>
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template.
    ds?.type === 'prometheus' && (ds.uid === '${datasource}' || ds.uid === datasourceUid);
  const checkVariables = (text: string, context: string) => {
    for (const name of variablesUsed(text))
      if (!defined.has(name) && !GLOBAL_VARIABLES.has(name))
        problems.push(`${context}: undefined variable $${name}`);
  };
  for (const v of variables.filter((x) => x.type === 'query')) {
    if (!okDatasource(v.datasource))
      problems.push(`${where()}: variable ${v.name} has no Prometheus datasource`);
    checkVariables(variableQuery(v), `${where()}: variable ${v.name}`);
  }
  const ids = new Set<number>();
  for (const panel of dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])])) {
    if (ids.has(panel.id)) problems.push(`${where(panel)}: duplicate panel id ${panel.id}`);
    ids.add(panel.id);
    const g = panel.gridPos;
    if (!g || g.x < 0 || g.w <= 0 || g.x + g.w > 24 || g.h <= 0)
      problems.push(`${where(panel)}: bad gridPos`);
  }
  for (const panel of queryPanels(dashboard)) {
    if (!panel.title) problems.push(`${where(panel)}: no title`);
    if (!panel.fieldConfig?.defaults?.unit) problems.push(`${where(panel)}: no unit`);
    if (!okDatasource(panel.datasource)) problems.push(`${where(panel)}: datasource not set to Prometheus`);
    if (!panel.targets?.length) problems.push(`${where(panel)}: no query`);
    for (const target of panel.targets ?? []) {
      const context = `${where(panel)} › ${target.refId}`;
      if (!target.expr?.trim()) problems.push(`${context}: empty expression`);
      if (target.datasource && !okDatasource(target.datasource))
        problems.push(`${context}: datasource not Prometheus`);
      checkVariables(target.expr ?? '', context);
      for (const window of windowsOf(target.expr ?? ''))
        if (!WINDOW_VARIABLES.has(window))
          problems.push(`${context}: fixed window [${window}] (use [$__rate_interval] or [$__range])`);
    }
  }
  return problems;
}

/** uids used by more than one dashboard. */
export function duplicateUids(dashboards: Iterable<Dashboard>): string[] {
  const seen = new Map<string, number>();
  for (const d of dashboards) seen.set(d.uid, (seen.get(d.uid) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([uid]) => uid);
}

/** Regex-escape a value the way Grafana does for Prometheus (each backslash doubled inside the string). */
const escapeRegex = (value: string) => value.replace(/[\\^$*+?.()|[\]{}]/g, '\\\\$&');

/**
 * An expression with its variables replaced as Grafana would: a multi-value variable becomes the
 * regex alternation of its values (`(a|b)`), Grafana's own intervals their given durations.
 */
export function expand(
  expr: string,
  values: { multi: Record<string, string[]>; intervals: Record<string, string> },
) {
  return expr.replace(/\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)\]\]/g, (whole, a, b, c) => {
    const name = (a ?? b ?? c) as string;
    const interval = values.intervals[name];
    if (interval !== undefined) return interval;
    const list = values.multi[name];
    if (list === undefined) return whole;
    return list.length === 1 ? escapeRegex(list[0]!) : `(${list.map(escapeRegex).join('|')})`;
  });
}

const stripStrings = (expr: string) => expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');

// Words of PromQL that are not metric names.
const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);

/**
 * The metric names an expression reads (no parser: enough for the expressions of our dashboards —
 * names outside braces that are not functions, keywords or label lists).
 */
export function metricNames(expr: string): string[] {
  const text = stripStrings(expr)
    .replace(/\{[^}]*\}/g, ' ') // matchers
    .replace(/\[[^\]]*\]/g, ' ') // windows
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  const names = [...text.matchAll(/(?<![\w:.$])([a-zA-Z_:][\w:]*)(?![\w:]|\s*\()/g)]
    .map((m) => m[1]!)
    .filter((w) => !KEYWORDS.has(w.toLowerCase()));
  return [...new Set(names)];
}

/** The label names an expression's matchers use, per metric name (`{}` right after the name). */
export function matcherLabels(expr: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of stripStrings(expr).matchAll(/([a-zA-Z_:][\w:]*)\{([^}]*)\}/g)) {
    const labels = [...m[2]!.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]!);
    out.set(m[1]!, [...new Set([...(out.get(m[1]!) ?? []), ...labels])]);
  }
  return out;
}

/** Values that make any of our expressions concrete enough for a parser (no Prometheus needed). */
export const PARSE_VALUES = {
  multi: { job: ['gateway', 'tasks'], instance: ['127.0.0.1:9100'] },
  intervals: { __rate_interval: '1m', __interval: '15s', __range: '1h', __range_s: '3600' },
};

/**
 * Parse every expression with promtool (one rule group per query, so each error names its query):
 * the problems, one line each, or [] when all parse.
 */
export async function promtoolParseProblems(
  queries: { key: string; expr: string }[],
  scratchDir: string,
): Promise<string[]> {
  const file = join(scratchDir, 'dashboard-queries.yml');
  const groups = queries.map((q) => ({ name: q.key, rules: [{ record: 'dashboard:query', expr: q.expr }] }));
  // JSON is YAML: no quoting rules to get wrong.
  writeFileSync(file, JSON.stringify({ groups }));
  try {
    await exec(binary('promtool'), ['check', 'rules', file]);
    return [];
  } catch (err) {
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    const lines = `${stdout}\n${stderr}`.split('\n').filter((l) => l.includes('group "'));
    return lines.length
      ? lines.map((l) => l.replace(/^.*?group "/, '"'))
      : [`promtool failed: ${stderr || err}`];
  }
}
