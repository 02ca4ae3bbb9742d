// The Prometheus exporters of the native stack, from Debian packages: postgres (one per node), PgBouncer,
// Redis, nginx (stub_status), node (this host) and blackbox (the synthetic probes). Each listens on
// 127.0.0.1 only and reads its server on every scrape, so they all start at once, in parallel with the
// servers they watch: an exporter whose server is not up yet reports it down (pg_up 0, redis_up 0, …)
// until it is. Prometheus finds them through the file-discovery targets written here.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StartContext } from '../context.ts';
import { logFile } from '../context.ts';
import { repoPath } from '../paths.ts';
import type { StopSpec } from '../proc.ts';
import { allSettledOrThrow, launch, run, waitFor } from '../proc.ts';
import type { HostPort } from '../state.ts';
import { binary } from '../system.ts';
import { renderTemplate } from '../template.ts';

const STOP: StopSpec = { signal: 'SIGTERM', group: false, graceMs: 5_000 };
const addr = (t: HostPort) => `${t.host}:${t.port}`;

/** The Debian 12 Python the PgBouncer exporter's package depends on (not a pyenv shim on PATH). */
const PYTHON = '/usr/bin/python3';

/** Where each exporter listens (host:port) and what it watches. */
export interface ExportersSpec {
  host: string;
  postgres: { node: string; target: HostPort; port: number }[];
  /** The database the postgres exporters connect to (its tables are in pg_stat_user_tables). */
  database: string;
  adminUser: string;
  pgbouncer: { target: HostPort; port: number };
  redis: { target: HostPort; port: number };
  nginx: { statusPort: number; port: number };
  node: { port: number };
  blackbox: { port: number; config: BlackboxSettings };
}

/** The values prometheus/blackbox.yml needs (see its header). */
export interface BlackboxSettings {
  caFile: string;
  serverName: string;
  clientId: string;
  secretFile: string;
  tokenUrl: string;
}

/** Prometheus's view: one target per exporter (postgres: one per node) and, with services, the probes. */
export interface ExporterTargets {
  postgres: (HostPort & { node: string })[];
  pgbouncer: HostPort;
  redis: HostPort;
  nginx: HostPort;
  node: HostPort;
  blackbox: HostPort;
  probes?: SyntheticProbe[];
}

export interface SyntheticProbe {
  /** The `probe` label: edge-health, jwks, authenticated-read. */
  probe: string;
  /** The blackbox module (prometheus/blackbox.yml). */
  module: string;
  url: string;
}

/** The probe account: a normal user of the API whose password only the stack knows. */
export const PROBE_ACCOUNT = 'synthetic-probe@taskfleet.local';

/** The three probes of the user journey, all through the edge over HTTPS. */
export function syntheticProbes(edge: { host: string; httpsPort: number }): SyntheticProbe[] {
  const base = `https://${edge.host}:${edge.httpsPort}`;
  return [
    { probe: 'edge-health', module: 'edge_health', url: `${base}/nginx-health` },
    { probe: 'jwks', module: 'jwks', url: `${base}/.well-known/jwks.json` },
    { probe: 'authenticated-read', module: 'authenticated_read', url: `${base}/v1/tasks?limit=1` },
  ];
}

export function exporterTargets(spec: ExportersSpec): ExporterTargets {
  const at = (port: number) => ({ host: spec.host, port });
  return {
    postgres: spec.postgres.map((p) => ({ node: p.node, ...at(p.port) })),
    pgbouncer: at(spec.pgbouncer.port),
    redis: at(spec.redis.port),
    nginx: at(spec.nginx.port),
    node: at(spec.node.port),
    blackbox: at(spec.blackbox.port),
  };
}

/** targets/<job>.json for each exporter job, and targets/synthetic.json (empty without probes). */
export function writeExporterTargets(targetsDir: string, targets: ExporterTargets): void {
  const write = (job: string, groups: unknown) =>
    writeFileSync(join(targetsDir, `${job}.json`), `${JSON.stringify(groups, null, 2)}\n`);
  write(
    'postgres',
    targets.postgres.map((p) => ({ labels: { node: p.node }, targets: [addr(p)] })),
  );
  for (const job of ['pgbouncer', 'redis', 'nginx', 'node', 'blackbox'] as const)
    write(job, [{ targets: [addr(targets[job])] }]);
  // Each probe is a target of the blackbox exporter: the URL becomes ?target=, the module ?module=, and
  // __blackbox the address scraped (prometheus.yml's relabelling of job "synthetic").
  write(
    'synthetic',
    (targets.probes ?? []).map((p) => ({
      labels: { probe: p.probe, __param_module: p.module, __blackbox: addr(targets.blackbox) },
      targets: [p.url],
    })),
  );
}

/** Render prometheus/blackbox.yml for this stack and check it with the exporter itself. */
export async function writeBlackboxConfig(file: string, settings: BlackboxSettings): Promise<void> {
  writeFileSync(
    file,
    renderTemplate(readFileSync(repoPath('prometheus/blackbox.yml'), 'utf8'), {
      BLACKBOX_CA_FILE: settings.caFile,
      BLACKBOX_SERVER_NAME: settings.serverName,
      PROBE_CLIENT_ID: settings.clientId,
      PROBE_SECRET_FILE: settings.secretFile,
      PROBE_TOKEN_URL: settings.tokenUrl,
    }),
  );
  await run(binary('prometheus-blackbox-exporter'), [`--config.file=${file}`, '--config.check']);
}

/**
 * The probe account's password: made once (random, mode 600 in the stack dir, never logged) and kept
 * with the data, so the account made with it at the first start keeps working after a restart.
 */
export function probeSecret(dir: string): { file: string; secret: string } {
  const folder = join(dir, 'blackbox');
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  const file = join(folder, 'probe-secret');
  if (!existsSync(file)) {
    writeFileSync(file, Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString('base64url'), {
      mode: 0o600,
    });
  }
  chmodSync(file, 0o600);
  return { file, secret: readFileSync(file, 'utf8').trim() };
}

// node exporter: what the Hosts dashboard and the CPU/memory alerts read, nothing that needs a textfile
// directory, systemd or hardware this host may lack (each disabled collector is a scrape cost saved).
const NODE_COLLECTORS = [
  'cpu',
  'meminfo',
  'loadavg',
  'pressure',
  'filesystem',
  'diskstats',
  'netdev',
  'stat',
  'vmstat',
  'filefd',
  'sockstat',
  'uname',
  'time',
];

interface Launch {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  listen: HostPort;
}

function launches(spec: ExportersSpec, blackboxConfig: string): Launch[] {
  const at = (port: number) => ({ host: spec.host, port });
  const listen = (port: number) => `${spec.host}:${port}`;
  return [
    ...spec.postgres.map((p) => ({
      name: `postgres-exporter-${p.node}`,
      command: binary('prometheus-postgres-exporter'),
      args: [
        `--web.listen-address=${listen(p.port)}`,
        `--extend.query-path=${repoPath('prometheus/postgres-exporter-queries.yml')}`,
        '--log.level=warn',
      ],
      // The admin role over loopback (trust, local use only), to the application's database.
      env: {
        DATA_SOURCE_NAME: `postgresql://${spec.adminUser}@${addr(p.target)}/${spec.database}?sslmode=disable`,
      },
      listen: at(p.port),
    })),
    {
      name: 'pgbouncer-exporter',
      command: PYTHON,
      args: [
        repoPath('deploy/images/pgbouncer-exporter/pgbouncer_exporter.py'),
        `--host=${spec.host}`,
        `--port=${spec.pgbouncer.port}`,
        `--pgbouncer-host=${spec.pgbouncer.target.host}`,
        `--pgbouncer-port=${spec.pgbouncer.target.port}`,
        // PgBouncer's admin_users/stats_users (deploy/pgbouncer/pgbouncer.ini.template).
        `--pgbouncer-user=${spec.adminUser}`,
      ],
      listen: at(spec.pgbouncer.port),
    },
    {
      name: 'redis-exporter',
      command: binary('prometheus-redis-exporter'),
      args: [
        `-web.listen-address=${listen(spec.redis.port)}`,
        `-redis.addr=redis://${addr(spec.redis.target)}`,
        '-connection-timeout=3s',
      ],
      listen: at(spec.redis.port),
    },
    {
      name: 'nginx-exporter',
      command: binary('prometheus-nginx-exporter'),
      args: [
        `-web.listen-address=${listen(spec.nginx.port)}`,
        `-nginx.scrape-uri=http://${spec.host}:${spec.nginx.statusPort}/stub_status`,
        // It gives up at start when stub_status does not answer; nginx starts beside it.
        '-nginx.retries=60',
        '-nginx.retry-interval=500ms',
      ],
      listen: at(spec.nginx.port),
    },
    {
      name: 'node-exporter',
      command: binary('prometheus-node-exporter'),
      args: [
        `--web.listen-address=${listen(spec.node.port)}`,
        '--collector.disable-defaults',
        ...NODE_COLLECTORS.map((c) => `--collector.${c}`),
        '--log.level=warn',
      ],
      listen: at(spec.node.port),
    },
    {
      name: 'blackbox-exporter',
      command: binary('prometheus-blackbox-exporter'),
      args: [`--web.listen-address=${listen(spec.blackbox.port)}`, `--config.file=${blackboxConfig}`],
      listen: at(spec.blackbox.port),
    },
  ];
}

/** Start every exporter at once and wait until each one's HTTP listener answers. */
export async function startExporters(ctx: StartContext, spec: ExportersSpec): Promise<void> {
  const dir = join(ctx.dir, 'blackbox');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const blackboxConfig = join(dir, 'blackbox.yml');
  await writeBlackboxConfig(blackboxConfig, spec.blackbox.config);
  await allSettledOrThrow(
    launches(spec, blackboxConfig).map(async (l) => {
      const log = logFile(ctx, l.name);
      const proc = launch(l.command, l.args, {
        stack: ctx.dir,
        logFile: log,
        env: { ...process.env, ...l.env },
      });
      ctx.record({
        name: l.name,
        kind: 'exporter',
        ...proc,
        address: addr(l.listen),
        logFile: log,
        stop: STOP,
        stopTier: 0,
      });
      // The listener, not /metrics: a scrape would wait for the server it watches.
      await waitFor(
        `${l.name} to listen`,
        async () => (await fetch(`http://${addr(l.listen)}/`)).status < 500,
        {
          timeoutMs: 20_000,
          intervalMs: 50,
          logFile: log,
          pid: proc.pid,
        },
      );
    }),
  );
  ctx.progress(
    `exporters up on ${spec.host} (postgres ×${spec.postgres.length}, pgbouncer, redis, nginx, node, blackbox)`,
  );
}

/** POST /v1/auth/token (client credentials, HTTP Basic): the status the users service answers. */
async function tokenStatus(tokenUrl: string, clientId: string, secret: string): Promise<number> {
  const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString(
    'base64',
  );
  const res = await fetch(tokenUrl, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  await res.body?.cancel();
  return res.status;
}

/**
 * Make the probe account (once; registering an existing address changes nothing) and check that its
 * stored password gets a token. An account whose password was lost with the stack's secret file is
 * deleted (it owns nothing: the probe only reads) and made again with the current one.
 */
export async function ensureProbeAccount(opts: {
  usersUrl: string;
  tokenUrl: string;
  secret: string;
  deleteAccount: (email: string) => Promise<void>;
}): Promise<void> {
  const register = async () => {
    const res = await fetch(`${opts.usersUrl}/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: PROBE_ACCOUNT, password: opts.secret }),
    });
    await res.body?.cancel();
    if (res.status !== 201) throw new Error(`registering the probe account: HTTP ${res.status}`);
  };
  await register();
  let status = await tokenStatus(opts.tokenUrl, PROBE_ACCOUNT, opts.secret);
  if (status === 401) {
    await opts.deleteAccount(PROBE_ACCOUNT);
    await register();
    status = await tokenStatus(opts.tokenUrl, PROBE_ACCOUNT, opts.secret);
  }
  if (status !== 200) throw new Error(`the probe account gets no token: HTTP ${status}`);
}
