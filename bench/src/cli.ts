// `make bench`: bring up (or reuse) the benchmark's native stack, seed it, run every scenario through
// nginx and every ceiling with the same client in the same run, then write bench/results/<ts>.json, an
// HTML report beside it and a text summary.
//   node bench/src/cli.ts [--profile short|long|smoke] [--keep] [--cpu-prof] [--replicas 1|2]
//                         [--scenarios a,b] [--duration S]
//                         [--connections N] [--rate R] [--rate-fraction F] [--base-port P]
//                         [--tracing off|RATIO]   RATIO: the services trace (0 < RATIO ≤ 1 of requests sampled)
//                                                 and export to a receiver in this process
//   node bench/src/cli.ts report <results.json>     re-render the HTML and summary of a past run
//   node bench/src/cli.ts hops [--duration S]        CPU per request hop by hop, on a stack kept with --keep
//   node bench/src/cli.ts down                      stop a bench stack kept with --keep
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { StackState } from '@taskfleet/infra';
import {
  guardStack,
  mintDevToken,
  pgbouncerDatabase,
  REPO_ROOT,
  readState,
  replicaStatus,
  stackEnv,
  startOtlpReceiver,
  stopStack,
} from '@taskfleet/infra';
import { measureHops, renderHops } from './hops.ts';
import type { LoadResult, NextRequest, ProgressTick } from './load.ts';
import { closedLoop, latencyMs, openLoop, perConnectionLoop } from './load.ts';
import {
  cpuCores,
  cpuSnapshot,
  nginxActiveConnections,
  peakOf,
  scrapeCounters,
  taskServiceRatios,
} from './observe.ts';
import { readScript, runPgbench, writeScript } from './pgbench.ts';
import { PROFILES, type Profile } from './profiles.ts';
import { renderHtml, renderSummary } from './report.ts';
import type { Measurement, RunResults } from './results.ts';
import { SCENARIOS, type ScenarioName, Workload } from './scenarios.ts';
import { loadDataset, seed } from './seed.ts';
import { ensureBenchStack, startHelloCeiling } from './stack.ts';
import { ratiosOf, targetsOf } from './targets.ts';

const HTTP_SCENARIOS = ['read-hot', 'read-list', 'write-create', 'mixed'] as const;
const CEILINGS = ['ceiling-proxy-hello', 'ceiling-pg-read', 'ceiling-pg-write'] as const;

const log = (message: string) => process.stderr.write(`${message}\n`);

/** A live line while a run goes (redrawn on a terminal, every 5 s otherwise). */
function progressLine(label: string) {
  const tty = process.stderr.isTTY;
  return (t: ProgressTick) => {
    const text = `  ${label.padEnd(34)} ${String(Math.round(t.elapsedS)).padStart(3)}/${t.totalS}s  ${Math.round(t.rps).toLocaleString('en').padStart(7)} req/s  p99 ${t.p99Ms.toFixed(1).padStart(7)} ms  errors ${t.errors}`;
    if (tty) process.stderr.write(`\r${text}\x1b[K`);
    else if (Math.round(t.elapsedS) % 5 === 0) log(text);
  };
}
const endProgress = () => {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
};

function machine(): RunResults['machine'] {
  let kernel = '';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {}
  return {
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model ?? 'unknown',
    memory_gb: Math.round(totalmem() / 2 ** 30),
    kernel,
    node: process.version,
  };
}

interface Context {
  profile: Profile;
  state: StackState;
  /** Every process of the bench's stacks has a TASKFLEET_STACK under this prefix. */
  stackPrefix: string;
  /** State files of the stacks measured (the bench stack, the ceiling's side stack). */
  stateDirs: string[];
  edge: string;
  nginxStatus: string;
  tasksMetrics: string[];
  measurements: Measurement[];
}

/** Run `load`, reading CPU, task-service counters and nginx connections around it. */
async function measure(
  ctx: Context,
  entry: Pick<Measurement, 'name' | 'kind' | 'mode' | 'connections' | 'target_rps'>,
  load: () => Promise<LoadResult>,
  notes: string[] = [],
): Promise<Measurement> {
  const countersBefore = await scrapeCounters(ctx.tasksMetrics);
  const cpuBefore = cpuSnapshot(ctx.stackPrefix, ctx.stateDirs);
  const peak = peakOf(() => nginxActiveConnections(ctx.nginxStatus));
  const result = await load();
  const cpuAfter = cpuSnapshot(ctx.stackPrefix, ctx.stateDirs);
  const peakConnections = await peak.stop();
  endProgress();
  const { cacheHitRatio, replicaReadShare } = taskServiceRatios(
    countersBefore,
    await scrapeCounters(ctx.tasksMetrics),
  );
  const latency = latencyMs(result.histogram);
  const m: Measurement = {
    ...entry,
    client: 'http',
    duration_s: round(result.durationS, 2),
    requests: result.requests,
    rps: round(result.requests / result.durationS, 1),
    p50_ms: round(latency.p50, 3),
    p95_ms: round(latency.p95, 3),
    p99_ms: round(latency.p99, 3),
    max_ms: round(latency.max, 3),
    errors: result.errors,
    error_rate: result.requests ? round(result.errors / result.requests, 5) : 0,
    statuses: result.statuses,
    cpu_cores: cpuCores(cpuBefore, cpuAfter),
    peak_connections: peakConnections,
    timeline: result.timeline,
    ...(cacheHitRatio === undefined ? {} : { cache_hit_ratio: round(cacheHitRatio, 4) }),
    ...(replicaReadShare === undefined ? {} : { replica_read_share: round(replicaReadShare, 4) }),
    ...(notes.length ? { notes } : {}),
  };
  ctx.measurements.push(m);
  log(
    `  ${`${m.name} (${m.mode})`.padEnd(34)} ${Math.round(m.rps).toLocaleString('en').padStart(7)} req/s  p50 ${m.p50_ms.toFixed(1)} ms  p99 ${m.p99_ms.toFixed(1)} ms  errors ${m.errors}`,
  );
  return m;
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;

/** Closed loop for the maximum, then an open loop at a fraction of it for honest latency. */
async function closedThenOpen(
  ctx: Context,
  name: string,
  kind: Measurement['kind'],
  origin: string,
  next: () => NextRequest,
  opts: { rate?: number | undefined; rateFraction: number },
) {
  const { profile } = ctx;
  if (profile.warmupS > 0) {
    await closedLoop({ origin, durationS: profile.warmupS, connections: profile.connections, next: next() });
  }
  const closed = await measure(ctx, { name, kind, mode: 'closed', connections: profile.connections }, () =>
    closedLoop({
      origin,
      durationS: profile.closedS,
      connections: profile.connections,
      next: next(),
      onTick: progressLine(`${name} (closed)`),
    }),
  );
  const rate = Math.max(1, Math.round(opts.rate ?? closed.rps * opts.rateFraction));
  await measure(ctx, { name, kind, mode: 'open', connections: profile.connections, target_rps: rate }, () =>
    openLoop({
      origin,
      durationS: profile.openS,
      connections: profile.connections,
      rate,
      next: next(),
      onTick: progressLine(`${name} (open ${rate}/s)`),
    }),
  );
}

async function connections10k(ctx: Context, workload: Workload) {
  const { profile } = ctx;
  const n = profile.manyConnections;
  log(`  opening ${n.toLocaleString('en')} connections over ${profile.rampS} s…`);
  let opened = 0;
  let failedToOpen = 0;
  const m = await measure(
    ctx,
    {
      name: 'connections-10k',
      kind: 'scenario',
      mode: 'open',
      connections: n,
      target_rps: round(n / profile.manyConnectionsIntervalS, 1),
    },
    async () => {
      const r = await perConnectionLoop({
        origin: ctx.edge,
        connections: n,
        intervalS: profile.manyConnectionsIntervalS,
        rampS: profile.rampS,
        durationS: profile.manyConnectionsS,
        next: workload.nextForConnections(),
        onTick: progressLine(`connections-10k (${n} conns)`),
      });
      opened = r.opened;
      failedToOpen = r.failedToOpen;
      return r;
    },
  );
  // A connection that could not be opened is a failure of the claim, counted with the request errors.
  m.notes = [`${opened} connections opened, ${failedToOpen} failed to open; CPU includes opening them`];
  m.errors += failedToOpen;
  m.error_rate = m.requests ? round(m.errors / m.requests, 5) : 0;
}

async function pgCeilings(
  ctx: Context,
  workDir: string,
  dataset: { users: number; tasks: number },
  selected: readonly string[],
) {
  const { state, profile } = ctx;
  const database = state.databases[0] ?? 'taskfleet';
  const target = (node: string) => ({
    host: state.endpoints.pgbouncer.host,
    port: state.endpoints.pgbouncer.port,
    database: pgbouncerDatabase(database, node),
    user: state.endpoints.postgres.appUser,
  });
  const runs = [
    {
      name: 'ceiling-pg-read',
      // The service spreads reads over both replicas: so does this ceiling.
      targets: state.endpoints.postgres.replicas.map((r) => target(r.name)),
      script: readScript(),
    },
    { name: 'ceiling-pg-write', targets: [target('primary')], script: writeScript() },
  ];
  for (const run of runs.filter((r) => selected.includes(r.name))) {
    const clientsEach = Math.max(1, Math.round(profile.pgClients / run.targets.length));
    const cpuBefore = cpuSnapshot(ctx.stackPrefix, ctx.stateDirs);
    const r = await runPgbench({
      targets: run.targets,
      script: run.script,
      variables: { tasks: dataset.tasks, users: dataset.users },
      clientsEach,
      durationS: profile.pgS,
      workDir: join(workDir, run.name),
      onTick: (elapsedS, tps) =>
        progressLine(`${run.name} (closed)`)({
          elapsedS,
          totalS: profile.pgS,
          rps: tps * run.targets.length,
          p99Ms: 0,
          errors: 0,
        }),
    });
    endProgress();
    const m: Measurement = {
      name: run.name,
      kind: 'ceiling',
      mode: 'closed',
      client: 'pgbench',
      connections: clientsEach * run.targets.length,
      duration_s: r.durationS,
      requests: r.transactions,
      rps: round(r.tps, 1),
      p50_ms: round(r.latencyMs.p50, 3),
      p95_ms: round(r.latencyMs.p95, 3),
      p99_ms: round(r.latencyMs.p99, 3),
      max_ms: round(r.latencyMs.max, 3),
      errors: r.failed,
      error_rate: r.transactions ? round(r.failed / r.transactions, 5) : 0,
      statuses: { ok: r.transactions - r.failed, failed: r.failed },
      cpu_cores: cpuCores(cpuBefore, cpuSnapshot(ctx.stackPrefix, ctx.stateDirs), { pgbench: r.cpuSeconds }),
      timeline: r.timeline,
      notes: ['latency percentiles from a 20 % sample of transactions (pgbench --sampling-rate)'],
    };
    ctx.measurements.push(m);
    log(
      `  ${`${m.name} (closed)`.padEnd(34)} ${Math.round(m.rps).toLocaleString('en').padStart(7)} tx/s   p50 ${m.p50_ms.toFixed(1)} ms  p99 ${m.p99_ms.toFixed(1)} ms  errors ${m.errors}`,
    );
  }
}

async function waitForReplicas(state: StackState) {
  const { postgres } = state.endpoints;
  const spec = {
    primary: { ...postgres.primary, user: postgres.adminUser },
    replicas: postgres.replicas.map((r) => ({ ...r })),
  };
  for (let i = 0; i < 300; i++) {
    const status = await replicaStatus(spec as Parameters<typeof replicaStatus>[0]);
    // Caught up with the seed; the worker's own small writes may keep a few kB in flight.
    if (status.every((s) => s.lagBytes < 64 * 1024)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('the replicas did not catch up with the seed within 60 s');
}

function writeOutputs(results: RunResults, outDir: string): { json: string; html: string } {
  mkdirSync(outDir, { recursive: true });
  const stamp = results.started_at.replace(/[:.]/g, '-');
  const json = join(outDir, `${stamp}.json`);
  const html = join(outDir, `${stamp}.html`);
  writeFileSync(json, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(html, renderHtml(results));
  return { json, html };
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      profile: { type: 'string', default: 'short' },
      keep: { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      replicas: { type: 'string', default: '2' },
      scenarios: { type: 'string' },
      duration: { type: 'string' },
      connections: { type: 'string' },
      rate: { type: 'string' },
      'rate-fraction': { type: 'string', default: '0.5' },
      'base-port': { type: 'string', default: '22000' },
      tracing: { type: 'string', default: 'off' },
      dir: { type: 'string', default: join(REPO_ROOT, '.bench') },
      out: { type: 'string', default: join(REPO_ROOT, 'bench', 'results') },
    },
  });
  if (positionals[0] === 'report') {
    const file = positionals[1];
    if (!file) throw new UsageError('usage: bench report <results.json>');
    const results = JSON.parse(readFileSync(file, 'utf8')) as RunResults;
    writeFileSync(file.replace(/\.json$/, '.html'), renderHtml(results));
    process.stdout.write(renderSummary(results));
    return;
  }
  if (positionals[0] === 'down') {
    await stopStack(join(resolve(values.dir), 'stack'), (m) => log(`  ${m}`));
    return;
  }
  if (positionals[0] === 'hops') {
    const stackDir = join(resolve(values.dir), 'stack');
    const state = readState(stackDir);
    if (!state)
      throw new UsageError('bench hops needs a running bench stack: run `make bench ARGS=--keep` first');
    const data = await loadDataset(stackEnv(state).DATABASE_ADMIN_URL!, (id) =>
      mintDevToken(stackDir, id, 3600),
    );
    const hops = await measureHops({
      state,
      stackPrefix: `${resolve(values.dir)}/`,
      workload: new Workload(data, PROFILES.short!.zipfS),
      durationS: values.duration ? positiveNumber('--duration', values.duration) : 5,
      connections: values.connections ? positiveNumber('--connections', values.connections) : 32,
      rounds: 2,
    });
    process.stdout.write(renderHops(hops));
    return;
  }
  if (positionals.length > 0) throw new UsageError(`unknown command: ${positionals.join(' ')}`);
  const base = PROFILES[values.profile as keyof typeof PROFILES];
  if (!base) throw new UsageError(`unknown profile ${values.profile} (short, long, smoke)`);
  const profile: Profile = { ...base };
  if (values.duration) profile.closedS = profile.openS = positiveNumber('--duration', values.duration);
  if (values.connections) profile.connections = positiveNumber('--connections', values.connections);
  const rate = values.rate === undefined ? undefined : positiveNumber('--rate', values.rate);
  const rateFraction = positiveNumber('--rate-fraction', values['rate-fraction']);
  const selected = (values.scenarios?.split(',') ?? [...SCENARIOS, ...CEILINGS]).map((s) => s.trim());
  for (const s of selected) {
    if (![...SCENARIOS, ...CEILINGS].includes(s as never)) throw new UsageError(`unknown scenario ${s}`);
  }

  const root = resolve(values.dir);
  const stackDir = join(root, 'stack');
  const startedAt = new Date();
  log(`taskfleet bench — profile ${values.profile}; stack in ${stackDir}`);
  const cpuProfileDir = values['cpu-prof']
    ? join(root, 'cpu-profiles', startedAt.toISOString().replace(/[:.]/g, '-'))
    : undefined;
  if (values.replicas !== '1' && values.replicas !== '2') throw new UsageError('--replicas must be 1 or 2');
  const replicas = Number(values.replicas) as 1 | 2;
  const tracing = values.tracing === 'off' ? undefined : positiveNumber('--tracing', values.tracing);
  if (tracing !== undefined && tracing > 1)
    throw new UsageError('--tracing must be off or a ratio in (0, 1]');
  // The trace receiver the services export to, counting what arrives (Jaeger's stand-in: docs/performance.md).
  // The receiver lives in this process: a kept stack would go on exporting to a closed port.
  if (tracing !== undefined && values.keep) throw new UsageError('--tracing and --keep do not go together');
  const receiver = tracing === undefined ? undefined : await startOtlpReceiver({ keepSpans: false });
  const bench = await ensureBenchStack({
    tracing: receiver && tracing !== undefined ? { endpoint: receiver.url, ratio: tracing } : undefined,
    replicas,
    dir: stackDir,
    basePort: positiveNumber('--base-port', values['base-port']),
    keep: values.keep && !cpuProfileDir,
    cpuProfileDir,
    progress: (m) => log(`  ${m}`),
  }).catch(async (err) => {
    await receiver?.close();
    throw err;
  });
  const sideStacks: string[] = [];
  const cleanUp = async () => {
    for (const dir of sideStacks) await stopStack(dir).catch(() => {});
    if (cpuProfileDir) {
      // Profiles are named CPU.<date>.<pid>…: say which pid was which service.
      const names = Object.fromEntries(
        (readState(stackDir)?.components ?? [])
          .filter((c) => c.kind === 'service')
          .map((c) => [c.pid, c.name]),
      );
      mkdirSync(cpuProfileDir, { recursive: true });
      writeFileSync(join(cpuProfileDir, 'pids.json'), `${JSON.stringify(names, null, 2)}\n`);
    }
    await receiver?.close();
    if (bench.started && (!values.keep || cpuProfileDir)) {
      log('stopping the bench stack (keep it running between runs with --keep)');
      await stopStack(stackDir);
    }
    if (cpuProfileDir)
      log(`CPU profiles: ${cpuProfileDir} (summary: node bench/src/cpu-profile.ts ${cpuProfileDir})`);
  };
  const onSignal = () => {
    log('interrupted: stopping what the benchmark started');
    void cleanUp().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const { state } = bench;
    const env = stackEnv(state);
    const seeded = await seed({
      adminUrl: env.DATABASE_ADMIN_URL!,
      appUser: state.endpoints.postgres.appUser,
      users: profile.users,
      tasks: profile.tasks,
      months: profile.months,
      progress: (m) => log(`  ${m}`),
    });
    await waitForReplicas(state);
    log(
      `  dataset: ${seeded.users.toLocaleString('en')} users, ${seeded.tasks.toLocaleString('en')} seeded tasks over ${seeded.partitions} partitions (${seeded.seconds.toFixed(1)} s)`,
    );
    const tokenTtlS = 3600 + profile.estimatedS * 2;
    const data = await loadDataset(env.DATABASE_ADMIN_URL!, (id) => mintDevToken(stackDir, id, tokenTtlS));
    const workload = new Workload(data, profile.zipfS);

    const services = state.endpoints.services ?? [];
    const ctx: Context = {
      profile,
      state,
      stackPrefix: `${root}/`,
      stateDirs: [stackDir],
      edge: `http://${state.endpoints.nginx.host}:${state.endpoints.nginx.httpPort}`,
      nginxStatus: `http://${state.endpoints.nginx.host}:${state.endpoints.nginx.statusPort}/stub_status`,
      tasksMetrics: services
        .filter((s) => s.service === 'tasks')
        .map((s) => `http://${s.host}:${s.port}/metrics`),
      measurements: [],
    };

    for (const name of HTTP_SCENARIOS) {
      if (!selected.includes(name)) continue;
      log(`${name}`);
      await closedThenOpen(
        ctx,
        name,
        'scenario',
        ctx.edge,
        () => workload.next(name as Exclude<ScenarioName, 'connections-10k'>),
        {
          rate,
          rateFraction,
        },
      );
    }
    if (selected.includes('connections-10k')) {
      log('connections-10k');
      await connections10k(ctx, workload);
    }
    if (selected.includes('ceiling-proxy-hello')) {
      log('ceiling-proxy-hello');
      const dir = join(root, 'ceiling-hello');
      rmSync(dir, { recursive: true, force: true });
      sideStacks.push(dir);
      const hello = await startHelloCeiling(state, dir);
      guardStack(dir, process.pid, join(root, 'ceiling-hello-watchdog.log'));
      // Same connection count and client as the scenarios; its nginx's own status page is not needed.
      const helloCtx = { ...ctx, stateDirs: [stackDir, dir], nginxStatus: hello.status, tasksMetrics: [] };
      const next = () => () => ({ method: 'GET' as const, path: '/v1/hello', headers: {}, expect: [200] });
      await closedThenOpen(helloCtx, 'ceiling-proxy-hello', 'ceiling', hello.origin, next, {
        rate,
        rateFraction,
      });
      await stopStack(dir);
    }
    if (selected.includes('ceiling-pg-read') || selected.includes('ceiling-pg-write')) {
      log('ceiling-pg-read / ceiling-pg-write (pgbench through PgBouncer)');
      await pgCeilings(ctx, join(root, 'pgbench'), { users: seeded.users, tasks: seeded.tasks }, selected);
    }

    const results: RunResults = {
      version: 1,
      started_at: startedAt.toISOString(),
      finished_at: new Date().toISOString(),
      profile: values.profile,
      machine: machine(),
      parameters: {
        ...profile,
        replicas,
        rate: rate ?? null,
        rate_fraction: rateFraction,
        scenarios: selected,
        tracing: tracing ?? 'off',
        ...(receiver
          ? { trace_export_requests: [...receiver.requests.values()].reduce((a, b) => a + b, 0) }
          : {}),
      },
      dataset: {
        users: seeded.users,
        tasks: seeded.tasks,
        partitions: seeded.partitions,
        seed_seconds: seeded.seconds,
      },
      measurements: ctx.measurements,
      ratios: ratiosOf(ctx.measurements),
      targets: targetsOf(ctx.measurements, profile),
    };
    const files = writeOutputs(results, resolve(values.out));
    process.stdout.write(renderSummary(results));
    process.stdout.write(`results: ${files.json}\nreport:  ${files.html}\n`);
  } finally {
    await cleanUp();
  }
}

class UsageError extends Error {}

function positiveNumber(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number, not ${value}`);
  return n;
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(err instanceof UsageError ? err.message : `bench failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
