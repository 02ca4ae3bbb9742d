// PromQL fragments every dashboard shares, so the filters and windows read the same everywhere.

/** The dashboard's job and instance filters, plus any extra matchers. */
export const sel = (...extra: string[]) => ['job=~"$job"', 'instance=~"$instance"', ...extra].join(', ');

/** The instance filter with a fixed job: for a panel about one component's metrics. */
export const of = (job: string, ...extra: string[]) =>
  [`job="${job}"`, 'instance=~"$instance"', ...extra].join(', ');

/** Grafana's rate window: at least four scrapes, so a rate never falls between two samples. */
export const RATE = '[$__rate_interval]';

export const rate = (metric: string, matchers: string) => `rate(${metric}{${matchers}}${RATE})`;

/** A quantile of a Prometheus histogram, grouped by `by` (plus `le`). */
export const quantile = (q: number, metric: string, matchers: string, by: string) =>
  `histogram_quantile(${q}, sum by (${[by, 'le'].filter(Boolean).join(', ')}) (${rate(`${metric}_bucket`, matchers)}))`;

/** Requests of the API, not Prometheus' scrapes or the balancers' health checks (as the SLO rules count). */
export const API = 'route!~"/health/.+|/metrics"';
