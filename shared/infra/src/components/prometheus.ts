// Prometheus + Alertmanager from the repo's own configuration (prometheus/), checked with promtool and
// amtool before start. Targets are file-discovered: this module writes targets/*.json.
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { StartContext } from '../context.ts';
import { logFile } from '../context.ts';
import { writeFileAtomic } from '../files.ts';
import { repoPath } from '../paths.ts';
import type { StopSpec } from '../proc.ts';
import { allSettledOrThrow, launch, run, waitFor } from '../proc.ts';
import type { HostPort } from '../state.ts';
import { binary } from '../system.ts';
import type { ExporterTargets } from './exporters.ts';
import { writeExporterTargets } from './exporters.ts';

const STOP: StopSpec = { signal: 'SIGTERM', group: false, graceMs: 15_000 };

export interface ServiceTarget extends HostPort {
  /** Becomes the `job` label: tasks, gateway, users, worker. */
  job: string;
}

export interface PrometheusSpec {
  prometheus: HostPort;
  alertmanager: HostPort;
  rabbitmqMetrics: HostPort;
  services: ServiceTarget[];
  /** The exporters' jobs (postgres, pgbouncer, redis, nginx, node, blackbox) and the synthetic probes. */
  exporters?: ExporterTargets;
  /** Job `autoscaler`, when the stack runs one. */
  autoscaler?: HostPort;
}

const addr = (t: HostPort) => `${t.host}:${t.port}`;

/** Write the file-discovery targets; Prometheus picks up changes without a reload. */
export function writeTargets(configDir: string, spec: PrometheusSpec): void {
  const targets = join(configDir, 'targets');
  mkdirSync(join(targets, 'services'), { recursive: true });
  const write = (file: string, groups: unknown) =>
    writeFileSync(join(targets, file), `${JSON.stringify(groups, null, 2)}\n`);
  write('prometheus.json', [{ targets: [addr(spec.prometheus)] }]);
  write('alertmanager.json', [{ targets: [addr(spec.alertmanager)] }]);
  write('rabbitmq.json', [{ targets: [addr(spec.rabbitmqMetrics)] }]);
  // Always written: empty without an autoscaler, so none is left over from an earlier start in this dir.
  write('autoscaler.json', spec.autoscaler ? [{ targets: [addr(spec.autoscaler)] }] : []);
  writeServiceTargets(configDir, spec.services);
  if (spec.exporters) writeExporterTargets(targets, spec.exporters);
}

/**
 * The service replicas' targets alone (a scale changes nothing else), replaced whole — temp file, then
 * rename — so Prometheus never reads half a list.
 */
export function writeServiceTargets(configDir: string, services: readonly ServiceTarget[]): void {
  const file = join(configDir, 'targets', 'services', 'native.json');
  mkdirSync(dirname(file), { recursive: true });
  const byJob = Map.groupBy(services, (s) => s.job);
  const groups = [...byJob].map(([job, list]) => ({ labels: { job }, targets: list.map(addr) }));
  writeFileAtomic(file, `${JSON.stringify(groups, null, 2)}\n`);
}

/** The variables that fill in Alertmanager's webhook URLs (prometheus/alertmanager.yml). */
export const ALERTMANAGER_WEBHOOK_VARIABLES = [
  'ALERTMANAGER_CRITICAL_WEBHOOK_URL',
  'ALERTMANAGER_WARNING_WEBHOOK_URL',
] as const;

/**
 * prometheus/alertmanager.yml with its receivers' URLs from the environment. Alertmanager 0.25 expands no
 * variables and has no webhook `url_file`, so each `url: "…" # env: NAME` line takes NAME's value when it
 * is set, and keeps its local default otherwise. A value that is not an http(s) URL is refused (and not
 * echoed: such URLs often carry a token).
 */
export function renderAlertmanagerConfig(text: string, env: NodeJS.ProcessEnv = process.env): string {
  const problems: string[] = [];
  const out = text.replace(
    // The default in single or double quotes (the formatter writes double).
    /^(\s*(?:- )?url: )(?:'[^']*'|"[^"]*")( # env: ([A-Z0-9_]+))$/gm,
    (line, head: string, tail: string, name: string) => {
      const value = env[name];
      if (value === undefined || value === '') return line;
      if (!/^https?:\/\/[^\s]+$/.test(value) || !URL.canParse(value)) {
        problems.push(`${name} is not an http(s) URL`);
        return line;
      }
      return `${head}'${value.replaceAll("'", "''")}'${tail}`;
    },
  );
  if (problems.length) throw new Error(`alertmanager.yml: ${problems.join('; ')}`);
  return out;
}

/** Copy the repo's prometheus.yml + rules next to the generated targets and check them with promtool. */
export async function writePrometheusConfig(configDir: string, spec: PrometheusSpec): Promise<string> {
  mkdirSync(configDir, { recursive: true });
  cpSync(repoPath('prometheus/prometheus.yml'), join(configDir, 'prometheus.yml'));
  cpSync(repoPath('prometheus/rules'), join(configDir, 'rules'), { recursive: true });
  writeFileSync(
    join(configDir, 'alertmanager.yml'),
    renderAlertmanagerConfig(readFileSync(repoPath('prometheus/alertmanager.yml'), 'utf8')),
  );
  writeTargets(configDir, spec);
  await run(binary('promtool'), ['check', 'config', join(configDir, 'prometheus.yml')]);
  await run(binary('amtool'), ['check-config', join(configDir, 'alertmanager.yml')]);
  return configDir;
}

export async function startPrometheus(ctx: StartContext, spec: PrometheusSpec): Promise<void> {
  const dir = join(ctx.dir, 'prometheus');
  await writePrometheusConfig(dir, spec);

  const amLog = logFile(ctx, 'alertmanager');
  const am = launch(
    binary('prometheus-alertmanager'),
    [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'alertmanager-data')}`,
      `--web.listen-address=${addr(spec.alertmanager)}`,
      '--cluster.listen-address=', // empty: otherwise it opens a gossip port on 0.0.0.0:9094
    ],
    { stack: ctx.dir, logFile: amLog },
  );
  ctx.record({
    name: 'alertmanager',
    kind: 'alertmanager',
    ...am,
    address: addr(spec.alertmanager),
    logFile: amLog,
    stop: STOP,
    stopTier: 0,
  });

  const promLog = logFile(ctx, 'prometheus');
  const prom = launch(
    binary('prometheus'),
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      '--storage.tsdb.retention.time=7d',
      `--web.listen-address=${addr(spec.prometheus)}`,
      '--web.enable-lifecycle',
    ],
    { stack: ctx.dir, logFile: promLog, cwd: dir },
  );
  ctx.record({
    name: 'prometheus',
    kind: 'prometheus',
    ...prom,
    address: addr(spec.prometheus),
    logFile: promLog,
    stop: STOP,
    stopTier: 0,
  });

  const ready = (t: HostPort) => async () => (await fetch(`http://${addr(t)}/-/ready`)).ok;
  await allSettledOrThrow([
    waitFor('alertmanager to be ready', ready(spec.alertmanager), {
      timeoutMs: 20_000,
      logFile: amLog,
      pid: am.pid,
    }),
    waitFor('prometheus to be ready', ready(spec.prometheus), {
      timeoutMs: 20_000,
      logFile: promLog,
      pid: prom.pid,
    }),
  ]);
  ctx.progress(`prometheus up on ${addr(spec.prometheus)}, alertmanager on ${addr(spec.alertmanager)}`);
}
