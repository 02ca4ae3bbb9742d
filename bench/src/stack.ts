// The stacks a benchmark runs against: the full native stack (its own directory and ports, so `make up`
// can stay running beside it) and, for the proxy ceiling, nginx in front of two hello-world processes.
import { join } from 'node:path';
import type { EdgeLimits, StackState } from '@taskfleet/infra';
import {
  freePorts,
  guardStack,
  launch,
  logFile,
  repoPath,
  stackStatus,
  startNginx,
  startSideStack,
  startStack,
  stopStack,
  waitFor,
} from '@taskfleet/infra';

/**
 * One client address stands for every simulated user here, so the per-address limits at the edge and
 * the per-user limits in the gateway are raised: the benchmark measures capacity, not the limiters.
 * Both still run (and cost) on every request.
 */
export const BENCH_EDGE_LIMITS: EdgeLimits = { rate: '1000000r/s', burst: 1_000_000, connections: 60_000 };
export const BENCH_SERVICE_ENV = {
  RATE_LIMIT_USER_MAX: '100000000',
  RATE_LIMIT_IP_MAX: '100000000',
};

/** The services' OTEL_* settings: tracing to `endpoint` with parent-based ratio sampling, or off. */
function tracingEnv(tracing: { endpoint: string; ratio: number } | undefined): Record<string, string> {
  if (!tracing) return { OTEL_SDK_DISABLED: 'true' };
  return {
    OTEL_SDK_DISABLED: 'false',
    OTEL_EXPORTER_OTLP_ENDPOINT: tracing.endpoint,
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: String(tracing.ratio),
  };
}

export interface BenchStack {
  state: StackState;
  /** True when this run started it (and so stops it); false when it found it running (`--keep`). */
  started: boolean;
}

export async function ensureBenchStack(opts: {
  dir: string;
  basePort: number;
  keep: boolean;
  /** Start the services with --cpu-prof (profiles written here when they stop); needs a fresh stack. */
  cpuProfileDir?: string | undefined;
  /** Replicas of gateway, tasks and users (the stack's default is 2). */
  replicas: 1 | 2;
  /** The services trace, sampling this share of requests, and export to this OTLP/HTTP endpoint. */
  tracing?: { endpoint: string; ratio: number } | undefined;
  progress: (m: string) => void;
}): Promise<BenchStack> {
  const existing = stackStatus(opts.dir);
  const running =
    existing.state && existing.components.length > 0 && existing.components.every((c) => c.alive);
  if (running && (opts.cpuProfileDir || opts.tracing)) {
    throw new Error(
      `--cpu-prof and --tracing need a stack of their own: stop the running one first (bench down)`,
    );
  }
  const runningReplicas = existing.state?.endpoints.services?.filter((r) => r.service === 'tasks').length;
  if (running && runningReplicas !== opts.replicas) {
    throw new Error(
      `the running bench stack has ${runningReplicas} replicas per service, not ${opts.replicas}: stop it first (bench down)`,
    );
  }
  if (running && existing.state) {
    opts.progress(`reusing the running bench stack in ${opts.dir}`);
    return { state: existing.state, started: false };
  }
  const state = await startStack({
    dir: opts.dir,
    ports: opts.basePort,
    services: true,
    durability: 'full',
    serviceEnv: {
      ...BENCH_SERVICE_ENV,
      ...(opts.cpuProfileDir ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${opts.cpuProfileDir}` } : {}),
      ...tracingEnv(opts.tracing),
    },
    edgeLimits: BENCH_EDGE_LIMITS,
    replicas: opts.replicas,
    onProgress: opts.progress,
  });
  // Should this process die without cleaning up, the watchdog stops the stack (unless it is to be kept).
  if (!opts.keep) guardStack(opts.dir, process.pid, join(opts.dir, 'logs', 'watchdog.log'));
  return { state, started: true };
}

/** nginx (same template, same limits) in front of two hello-world Fastify processes. */
export async function startHelloCeiling(
  parent: StackState,
  dir: string,
): Promise<{ origin: string; status: string }> {
  const [http, https, status, hello1, hello2] = await freePorts(5);
  const host = '127.0.0.1';
  const backends = [hello1!, hello2!].map((port) => ({ host, port }));
  await startSideStack(parent, dir, async (ctx) => {
    await Promise.all(
      backends.map(async (b, i) => {
        const name = `hello-${i + 1}`;
        const log = logFile(ctx, name);
        const proc = launch(process.execPath, [repoPath('bench/src/hello-server.ts')], {
          stack: ctx.dir,
          logFile: log,
          env: { ...process.env, HOST: host, PORT: String(b.port) },
        });
        ctx.record({
          name,
          kind: 'service',
          ...proc,
          address: `${host}:${b.port}`,
          logFile: log,
          stop: { signal: 'SIGTERM', group: false, graceMs: 5_000 },
          stopTier: 1,
        });
        await waitFor(
          `${name} to answer`,
          async () => (await fetch(`http://${host}:${b.port}/health/ready`)).ok,
          {
            timeoutMs: 15_000,
            logFile: log,
            pid: proc.pid,
          },
        );
      }),
    );
    await startNginx(ctx, {
      host,
      httpPort: http!,
      httpsPort: https!,
      statusPort: status!,
      gateways: backends,
      limits: BENCH_EDGE_LIMITS,
    });
  });
  return { origin: `http://${host}:${http}`, status: `http://${host}:${status}/stub_status` };
}

export { stopStack };
