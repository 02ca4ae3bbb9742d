// The whole topology of design §1 as local processes: start it (in parallel where the order allows),
// report on it, stop it. Everything it starts is recorded in state.json the moment it is launched.
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { AutoscalerMode } from './components/autoscaler.ts';
import { startAutoscaler } from './components/autoscaler.ts';
import type { ExportersSpec } from './components/exporters.ts';
import {
  ensureProbeAccount,
  exporterTargets,
  PROBE_ACCOUNT,
  probeSecret,
  startExporters,
  syntheticProbes,
} from './components/exporters.ts';
import type { EdgeLimits } from './components/nginx.ts';
import { startNginx } from './components/nginx.ts';
import { startPgbouncer } from './components/pgbouncer.ts';
import {
  ADMIN_USER,
  APP_USER,
  queryOnce,
  startPostgres,
  startReplica,
  verifyReplication,
} from './components/postgres.ts';
import type { PrometheusSpec } from './components/prometheus.ts';
import { startPrometheus, writeTargets } from './components/prometheus.ts';
import { amqpUrl, startRabbitmq } from './components/rabbitmq.ts';
import { startRedis } from './components/redis.ts';
import type { ServiceName, ServiceReplica } from './components/services.ts';
import {
  devKeys,
  LAST_PORT_OFFSET,
  migrateServices,
  replicaName,
  replicaPort,
  SERVICES,
  saveServiceEnv,
  serviceEntry,
  startServiceReplica,
  upstreamsFile,
  writeUpstreamsFile,
} from './components/services.ts';
import type { StartContext } from './context.ts';
import { stackEnv } from './env.ts';
import { freePorts, isPortFree } from './ports.ts';
import { allSettledOrThrow, isAlive, run, stopProcess } from './proc.ts';
import type { ComponentRecord, Endpoints, HostPort, StackState } from './state.ts';
import { readState, stateFile, writeState } from './state.ts';
import { ensurePackages, serverUser } from './system.ts';

export interface StackOptions {
  /** Holds data, configs, logs/ and state.json. Must be traversable by the `postgres` OS user when root. */
  dir: string;
  /** 'free': free ports chosen at start (tests). A number: fixed ports from this base (`make up`). */
  ports: 'free' | number;
  /** Databases to create on the primary (each reachable through PgBouncer on every node). */
  databases?: string[];
  /** RabbitMQ virtual hosts to create. */
  vhosts?: string[];
  durability?: 'full' | 'fast';
  /** Also run Taskfleet's own services (`make up`); test stacks build them in-process instead. */
  services?: boolean;
  /** Extra environment for those services (tests lower limits, for instance). */
  serviceEnv?: Record<string, string>;
  /** Per-client-address limits at the edge (nginx); the production defaults when absent. */
  edgeLimits?: EdgeLimits;
  /** Replicas of the gateway, tasks and users services: 2 (default, failover) or 1 (small hosts). */
  replicas?: 1 | 2;
  /**
   * Run the autoscaler (services/autoscaler, native driver) on the stack's tasks and gateway replicas,
   * min `replicas` max 4, once the services are up: `make up` runs it live. Absent: none — what test
   * stacks and the benchmark's want (a live one would change their replica counts). 'dry-run' decides,
   * logs and counts, never scales; `env` adds settings (a shorter AUTOSCALER_INTERVAL, say). Needs `services`.
   */
  autoscaler?: { mode: AutoscalerMode; env?: Record<string, string> };
  /** Test stacks: the process whose exit means the stack must go (see watchdog.ts). */
  ownerPid?: number | null;
  onProgress?: (message: string) => void;
}

// Fixed layout for `make up` (base 21000 by default); documented in docs/native-stack.md.
const OFFSETS = {
  pgPrimary: 0,
  pgReplica1: 1,
  pgReplica2: 2,
  pgbouncer: 10,
  redis: 20,
  amqp: 30,
  amqpDist: 31,
  epmd: 32,
  rabbitmqMetrics: 33,
  nginxHttp: 50,
  nginxHttps: 51,
  nginxStatus: 52,
  prometheus: 60,
  alertmanager: 61,
  // Exporters (components/exporters.ts): one postgres exporter per node, then one per server.
  pgExporterPrimary: 70,
  pgExporterReplica1: 71,
  pgExporterReplica2: 72,
  pgbouncerExporter: 73,
  redisExporter: 74,
  nginxExporter: 75,
  nodeExporter: 76,
  blackboxExporter: 77,
  // The autoscaler (components/autoscaler.ts), when the stack runs one.
  autoscaler: 80,
  // The service replicas follow from base+100 (components/services.ts: SERVICE_PORT_OFFSETS).
} as const;
type PortName = keyof typeof OFFSETS;
const PORT_NAMES = Object.keys(OFFSETS) as PortName[];

const LOCAL_ONLY_RABBITMQ = { user: 'taskfleet', password: 'taskfleet-local-only' };
const HOST = '127.0.0.1';

/** The replicas `make up` starts: `replicas` of tasks, users and gateway, one worker. */
function initialReplicas(replicas: number): { service: ServiceName; index: number }[] {
  return SERVICES.flatMap((service) =>
    Array.from({ length: service === 'worker' ? 1 : replicas }, (_, i) => ({ service, index: i + 1 })),
  );
}

async function planPorts(
  ports: StackOptions['ports'],
  services: readonly { service: ServiceName; index: number }[],
): Promise<{ infra: Record<PortName, number>; replicas: (ServiceReplica & { service: ServiceName })[] }> {
  if (ports === 'free') {
    const list = await freePorts(PORT_NAMES.length + services.length);
    return {
      infra: Object.fromEntries(PORT_NAMES.map((n, i) => [n, list[i]!])) as Record<PortName, number>,
      replicas: services.map((r, i) => ({ ...r, host: HOST, port: list[PORT_NAMES.length + i]! })),
    };
  }
  if (ports + LAST_PORT_OFFSET >= 32768)
    throw new Error(`base port ${ports} too high: keep every port below 32768 (base+${LAST_PORT_OFFSET})`);
  const infra = Object.fromEntries(PORT_NAMES.map((n) => [n, ports + OFFSETS[n]])) as Record<
    PortName,
    number
  >;
  const replicas = services.map((r) => ({ ...r, host: HOST, port: replicaPort(ports, r.service, r.index) }));
  const busy: string[] = [];
  for (const n of PORT_NAMES) if (!(await isPortFree(infra[n]))) busy.push(`${n}=${infra[n]}`);
  for (const r of replicas) if (!(await isPortFree(r.port))) busy.push(`${replicaName(r)}=${r.port}`);
  if (busy.length)
    throw new Error(`ports in use: ${busy.join(', ')} (another stack? choose another base port)`);
  return { infra, replicas };
}

function endpointsFrom(p: Record<PortName, number>): Endpoints {
  return {
    postgres: {
      primary: { host: HOST, port: p.pgPrimary },
      replicas: [
        { name: 'replica1', host: HOST, port: p.pgReplica1 },
        { name: 'replica2', host: HOST, port: p.pgReplica2 },
      ],
      adminUser: ADMIN_USER,
      appUser: APP_USER,
    },
    pgbouncer: { host: HOST, port: p.pgbouncer },
    redis: { host: HOST, port: p.redis },
    rabbitmq: { host: HOST, port: p.amqp, ...LOCAL_ONLY_RABBITMQ, prometheusPort: p.rabbitmqMetrics },
    nginx: { host: HOST, httpPort: p.nginxHttp, httpsPort: p.nginxHttps, statusPort: p.nginxStatus },
    prometheus: { host: HOST, port: p.prometheus },
    alertmanager: { host: HOST, port: p.alertmanager },
  };
}

/** Where the exporters listen and what they watch; the blackbox settings for the synthetic probes. */
function exportersSpec(
  dir: string,
  database: string,
  endpoints: Endpoints,
  p: Record<PortName, number>,
  users1: HostPort | undefined,
): ExportersSpec {
  const { postgres } = endpoints;
  return {
    host: HOST,
    postgres: [
      { node: 'primary', target: postgres.primary, port: p.pgExporterPrimary },
      { node: 'replica1', target: postgres.replicas[0]!, port: p.pgExporterReplica1 },
      { node: 'replica2', target: postgres.replicas[1]!, port: p.pgExporterReplica2 },
    ],
    database,
    adminUser: ADMIN_USER,
    pgbouncer: { target: endpoints.pgbouncer, port: p.pgbouncerExporter },
    redis: { target: endpoints.redis, port: p.redisExporter },
    nginx: { statusPort: p.nginxStatus, port: p.nginxExporter },
    node: { port: p.nodeExporter },
    blackbox: {
      port: p.blackboxExporter,
      config: {
        caFile: join(dir, 'nginx', 'tls', 'tls.crt'),
        serverName: 'localhost',
        clientId: PROBE_ACCOUNT,
        secretFile: probeSecret(dir).file,
        // Without services no probe runs; the module still needs a URL (port 9: discard).
        tokenUrl: `http://${users1?.host ?? HOST}:${users1?.port ?? 9}/v1/auth/token`,
      },
    },
  };
}

export interface ComponentStatus {
  name: string;
  kind: ComponentRecord['kind'];
  pid: number;
  address: string;
  alive: boolean;
  logFile: string;
}

export function stackStatus(dir: string): { state: StackState | undefined; components: ComponentStatus[] } {
  const state = readState(dir);
  const components = (state?.components ?? []).map((c) => ({
    name: c.name,
    kind: c.kind,
    pid: c.pid,
    address: c.address,
    alive: isAlive(c.pid, c.startTicks),
    logFile: c.logFile,
  }));
  return { state, components };
}

/**
 * Stop every recorded process, tier by tier (the autoscaler first, then the front door, the Postgres
 * primary last). Idempotent.
 */
export async function stopStack(dir: string, onProgress: (m: string) => void = () => {}): Promise<void> {
  let state = readState(dir);
  while (state && state.components.length > 0) {
    const tier = Math.min(...state.components.map((c) => c.stopTier));
    const members = state.components.filter((c) => c.stopTier === tier);
    await Promise.all(
      members.map(async (c) => {
        const how = await stopProcess(c, c.stop);
        if (how !== 'gone') onProgress(`${c.name} (pid ${c.pid}) ${how}`);
      }),
    );
    // Read again: a scale that was under way until the autoscaler stopped (the first tier) may have
    // started or stopped replicas meanwhile — each recorded in state.json, so each is stopped here too.
    const stopped = new Set(members.map((c) => `${c.pid}/${c.startTicks}`));
    const now = readState(dir) ?? state;
    now.components = now.components.filter((c) => !stopped.has(`${c.pid}/${c.startTicks}`));
    writeState(now);
    state = now;
  }
  rmSync(stateFile(dir), { force: true });
}

/**
 * Start the stack in `opts.dir`. If that stack is already fully up this returns its state unchanged
 * (so `up` twice is harmless); if it is partly up, the rest is stopped and it starts again, keeping data.
 * A failed start stops whatever it had started before rethrowing.
 */
export async function startStack(opts: StackOptions): Promise<StackState> {
  if (opts.autoscaler && !opts.services)
    throw new Error('the autoscaler needs the services (services: true)');
  const progress = opts.onProgress ?? (() => {});
  const existing = stackStatus(opts.dir);
  if (existing.state && existing.components.length > 0 && existing.components.every((c) => c.alive)) {
    progress('stack already running');
    return existing.state;
  }
  if (existing.state) {
    progress('stack partly running: stopping what is left first');
    await stopStack(opts.dir, progress);
  }

  await ensurePackages();
  const runAs = serverUser();
  mkdirSync(join(opts.dir, 'logs'), { recursive: true });
  chmodSync(opts.dir, 0o755);
  if (runAs) {
    // Postgres runs as `postgres`: every parent directory must be traversable by it (not /root, say).
    await run('test', ['-x', opts.dir], { runAs }).catch(() => {
      throw new Error(`the postgres OS user cannot reach ${opts.dir}; choose a directory outside /root`);
    });
  }

  const databases = opts.databases ?? ['taskfleet'];
  const replicaCount = opts.replicas ?? 2;
  const vhosts = opts.vhosts ?? ['taskfleet'];
  const planned = await planPorts(opts.ports, opts.services ? initialReplicas(replicaCount) : []);
  const ports = planned.infra;
  const replicas = planned.replicas;
  const endpoints = endpointsFrom(ports);
  const state: StackState = {
    version: 1,
    runtime: 'native',
    dir: opts.dir,
    ownerPid: opts.ownerPid ?? null,
    createdAt: new Date().toISOString(),
    ...(opts.ports === 'free' ? {} : { basePort: opts.ports }),
    databases,
    vhosts,
    endpoints,
    components: [],
  };
  writeState(state);
  const ctx: StartContext = {
    dir: opts.dir,
    logsDir: join(opts.dir, 'logs'),
    serverUser: runAs,
    durability: opts.durability ?? 'full',
    record(component) {
      state.components.push(component);
      writeState(state);
    },
    progress,
  };

  try {
    const exporters = exportersSpec(
      opts.dir,
      databases[0]!,
      endpoints,
      ports,
      replicas.find((r) => r.service === 'users' && r.index === 1),
    );
    const monitoring: PrometheusSpec = {
      prometheus: endpoints.prometheus,
      alertmanager: endpoints.alertmanager,
      rabbitmqMetrics: { host: HOST, port: ports.rabbitmqMetrics },
      services: [],
      exporters: exporterTargets(exporters),
    };
    // RabbitMQ boots slowest (≈5 s): launch it first and let everything else start meanwhile.
    const rabbit = await startRabbitmq(ctx, {
      ...endpoints.rabbitmq,
      distPort: ports.amqpDist,
      epmdPort: ports.epmd,
      prometheusPort: ports.rabbitmqMetrics,
      vhosts,
    });
    const { postgres } = endpoints;
    await allSettledOrThrow([
      (async () => {
        await startPostgres(ctx, { primary: postgres.primary, replicas: postgres.replicas, databases });
        await startPgbouncer(ctx, {
          ...endpoints.pgbouncer,
          nodes: [{ name: 'primary', ...postgres.primary }, ...postgres.replicas],
          databases,
        });
      })(),
      startRedis(ctx, endpoints.redis),
      startPrometheus(ctx, monitoring),
      // Each exporter reads its server per scrape: no need to wait for the servers first.
      startExporters(ctx, exporters),
      startNginx(ctx, {
        host: HOST,
        httpPort: ports.nginxHttp,
        httpsPort: ports.nginxHttps,
        statusPort: ports.nginxStatus,
        // Known before they start: nginx's passive checks cover the seconds until they answer.
        gateways: replicas.filter((r) => r.service === 'gateway'),
        limits: opts.edgeLimits,
      }),
    ]);
    await rabbit.ready;
    if (opts.services) {
      const urls = (service: string) =>
        replicas
          .filter((r) => r.service === service)
          .map((r) => `http://${r.host}:${r.port}`)
          .join(',');
      const keys = devKeys(opts.dir);
      const env = {
        ...stackEnv(state),
        AUTH_JWKS: keys.jwks,
        AUTH_SIGNING_KEYS: JSON.stringify({ keys: [keys.privateJwk] }),
        // The gateways read the replicas from files that a scale rewrites (scale.ts), every second;
        // a list in the caller's own environment must not get in the way (the gateway takes one of the two).
        TASKS_UPSTREAMS_FILE: upstreamsFile(opts.dir, 'tasks'),
        USERS_UPSTREAMS_FILE: upstreamsFile(opts.dir, 'users'),
        TASKS_UPSTREAMS: '',
        USERS_UPSTREAMS: '',
        RESOLVE_INTERVAL_MS: '1000',
        LOG_LEVEL: 'info',
        ...opts.serviceEnv,
      };
      writeUpstreamsFile(
        opts.dir,
        'tasks',
        replicas.filter((r) => r.service === 'tasks'),
      );
      writeUpstreamsFile(
        opts.dir,
        'users',
        replicas.filter((r) => r.service === 'users'),
      );
      saveServiceEnv(opts.dir, env);
      await migrateServices(ctx, env);
      await allSettledOrThrow(replicas.map((r) => startServiceReplica(ctx, r, serviceEntry(r.service), env)));
      state.endpoints.services = replicas;
      writeState(state);
      // The synthetic probes need the probe account; its token comes straight from a users replica
      // (the gateway's auth limit per client address would be spent by the probe: docs/native-stack.md).
      await ensureProbeAccount({
        usersUrl: urls('users').split(',')[0]!,
        tokenUrl: exporters.blackbox.config.tokenUrl,
        secret: probeSecret(opts.dir).secret,
        deleteAccount: async (email) => {
          await queryOnce(
            { ...endpoints.postgres.primary, database: databases[0]! },
            'delete from users.users where lower(email) = lower($1)',
            [email],
          );
        },
      });
      const autoscaler = opts.autoscaler && { host: HOST, port: ports.autoscaler };
      // Prometheus re-reads file-discovered targets by itself: no reload.
      writeTargets(join(opts.dir, 'prometheus'), {
        ...monitoring,
        services: replicas.map((r) => ({ job: r.service, host: r.host, port: r.port })),
        exporters: { ...monitoring.exporters!, probes: syntheticProbes(endpoints.nginx) },
        ...(autoscaler ? { autoscaler } : {}),
      });
      if (opts.autoscaler && autoscaler) {
        state.endpoints.autoscaler = { ...autoscaler, mode: opts.autoscaler.mode };
        writeState(state);
        // Last: once it runs, it may scale — state.json and every list are its to change from here on.
        await startAutoscaler(ctx, {
          ...autoscaler,
          mode: opts.autoscaler.mode,
          prometheus: endpoints.prometheus,
          min: replicaCount,
          ...(opts.autoscaler.env ? { env: opts.autoscaler.env } : {}),
        });
        return readState(opts.dir) ?? state;
      }
    }
    return state;
  } catch (err) {
    progress(`start-up failed: ${(err as Error).message.split('\n')[0]}; stopping what was started`);
    await stopStack(opts.dir, progress);
    throw err;
  }
}

/**
 * Run `start` as a small stack of its own in `dir` (its own state.json; stop it with stopStack(dir)).
 * For tests that pause, stop or restart a server without disturbing the shared ones, and for the
 * benchmark's ceilings (servers beside the stack, measured with the same client).
 */
export async function startSideStack(
  parent: StackState,
  dir: string,
  start: (ctx: StartContext) => Promise<void>,
  onProgress?: (m: string) => void,
): Promise<StackState> {
  mkdirSync(join(dir, 'logs'), { recursive: true });
  chmodSync(dir, 0o755);
  const state: StackState = {
    ...parent,
    dir,
    ownerPid: null,
    createdAt: new Date().toISOString(),
    components: [],
  };
  writeState(state);
  const ctx: StartContext = {
    dir,
    logsDir: join(dir, 'logs'),
    serverUser: serverUser(),
    durability: 'fast',
    record(component) {
      state.components.push(component);
      writeState(state);
    },
    progress: onProgress ?? (() => {}),
  };
  try {
    await start(ctx);
  } catch (err) {
    await stopStack(dir);
    throw err;
  }
  return state;
}

/** One more streaming replica of a running stack's primary. */
export async function startExtraReplica(opts: {
  parent: StackState;
  dir: string;
  name: string;
}): Promise<{ replica: { name: string; host: string; port: number } }> {
  const [port] = await freePorts(1);
  const replica = { name: opts.name, host: HOST, port: port! };
  const { primary } = opts.parent.endpoints.postgres;
  await startSideStack(opts.parent, opts.dir, async (ctx) => {
    await startReplica(ctx, primary, replica);
    await verifyReplication({ primary, replicas: [replica], databases: [] });
  });
  return { replica };
}

/**
 * A Redis of its own, for a test to freeze (SIGSTOP), kill or restart; given `port`, on that port
 * again — a restart, which starts empty (this Redis keeps nothing on disk).
 */
export async function startExtraRedis(opts: {
  parent: StackState;
  dir: string;
  port?: number;
}): Promise<{ host: string; port: number; pid: number }> {
  const port = opts.port ?? (await freePorts(1))[0]!;
  const state = await startSideStack(opts.parent, opts.dir, (ctx) => startRedis(ctx, { host: HOST, port }));
  return { host: HOST, port, pid: state.components.find((c) => c.kind === 'redis')!.pid };
}

/** A RabbitMQ node of its own; restarting it in the same dir on the same ports keeps its durable queues. */
export async function startExtraRabbitmq(opts: {
  parent: StackState;
  dir: string;
  ports?: { amqp: number; dist: number; epmd: number; metrics: number };
  vhosts: string[];
}): Promise<{
  url: (vhost: string) => string;
  ports: { amqp: number; dist: number; epmd: number; metrics: number };
}> {
  const [amqp, dist, epmd, metrics] = opts.ports
    ? [opts.ports.amqp, opts.ports.dist, opts.ports.epmd, opts.ports.metrics]
    : await freePorts(4);
  const ports = { amqp: amqp!, dist: dist!, epmd: epmd!, metrics: metrics! };
  const spec = {
    host: HOST,
    port: ports.amqp,
    distPort: ports.dist,
    epmdPort: ports.epmd,
    prometheusPort: ports.metrics,
    vhosts: opts.vhosts,
    ...LOCAL_ONLY_RABBITMQ,
  };
  await startSideStack(opts.parent, opts.dir, async (ctx) => {
    await (await startRabbitmq(ctx, spec)).ready;
  });
  return { url: (vhost) => amqpUrl(spec, vhost), ports };
}
