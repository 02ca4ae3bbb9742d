// Every dashboard, in the order Grafana's folder lists them. `node grafana/src/generate.ts` writes each
// to grafana/dashboards/<uid>.json, which compose provisions (grafana/provisioning/dashboards/).

import { autoscalerDashboard } from './dashboards/autoscaler.ts';
import { dataPath } from './dashboards/data-path.ts';
import { database } from './dashboards/database.ts';
import { edge } from './dashboards/edge.ts';
import { events } from './dashboards/events.ts';
import { hosts } from './dashboards/hosts.ts';
import { overview } from './dashboards/overview.ts';
import { synthetic } from './dashboards/synthetic.ts';
import { dashboardJson } from './model.ts';

export const DASHBOARD_SPECS = [
  overview,
  edge,
  dataPath,
  database,
  events,
  hosts,
  synthetic,
  autoscalerDashboard,
];

/** File name (in grafana/dashboards/) → the dashboard's JSON model. */
export function renderDashboards(): Map<string, ReturnType<typeof dashboardJson>> {
  return new Map(DASHBOARD_SPECS.map((spec) => [`${spec.uid}.json`, dashboardJson(spec)]));
}
