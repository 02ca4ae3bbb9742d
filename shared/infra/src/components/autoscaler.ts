// The autoscaler (services/autoscaler, ADR 0014) as one more process of the native stack: its native
// driver on this stack's own tasks and gateway replicas, through the same scaling as `make scale`
// (scale.ts: a replica is announced once ready — the gateways' upstreams files, nginx, Prometheus — and
// withdrawn before it stops). `make up` runs it live; test stacks and the benchmark's run none unless
// they ask (a live one would change replica counts under their tests and measurements).
import type { StartContext } from '../context.ts';
import { logFile } from '../context.ts';
import { repoPath } from '../paths.ts';
import type { StopSpec } from '../proc.ts';
import { launch, waitFor } from '../proc.ts';
import type { HostPort } from '../state.ts';
import { SERVICE_NODE_ARGS, tracingEnv } from './services.ts';

export type AutoscalerMode = 'live' | 'dry-run';

export interface AutoscalerSpec extends HostPort {
  /** 'dry-run': decides, logs and counts every pass, never changes a count. */
  mode: AutoscalerMode;
  prometheus: HostPort;
  /** What `make up` starts of tasks and gateway: the policy's minimum. */
  min: number;
  /** Settings over the stack's (tests: a shorter AUTOSCALER_INTERVAL, say). */
  env?: Record<string, string>;
}

/**
 * The native stack's bound: four of each, well inside the eight its port layout has room for — on a
 * two-core host more replicas of one service mostly take CPU from the others (docs/performance.md).
 */
export const NATIVE_AUTOSCALER_MAX = 4;

/** The policy `make up` runs with (AUTOSCALER_NATIVE_POLICY; the seed's thresholds, periods, cooldowns). */
export function nativeAutoscalerPolicy(min: number): string {
  return ['tasks', 'gateway'].map((s) => `${s}: min=${min} max=${NATIVE_AUTOSCALER_MAX}`).join('; ');
}

// SIGTERM: the pass under way ends (a scale it started finishes or is cut off by the service's own
// 10 s bound — stopStack then reads state.json again and stops whatever that scale had started).
const STOP: StopSpec = { signal: 'SIGTERM', group: false, graceMs: 15_000 };

/**
 * Settings of the environment that are the stack's to decide: where the stack and its Prometheus are,
 * live or not, where it listens. Any other AUTOSCALER_* setting of the caller's environment passes
 * through (AUTOSCALER_INTERVAL, AUTOSCALER_NATIVE_POLICY, …).
 */
export function autoscalerEnv(
  ctx: Pick<StartContext, 'dir'>,
  spec: AutoscalerSpec,
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  return {
    ...base,
    LOG_LEVEL: 'info',
    AUTOSCALER_NATIVE_POLICY: base.AUTOSCALER_NATIVE_POLICY || nativeAutoscalerPolicy(spec.min),
    ...tracingEnv({ ...base }, 'autoscaler'),
    ...spec.env,
    AUTOSCALER_DRIVER: 'native',
    AUTOSCALER_DRY_RUN: spec.mode === 'dry-run' ? 'true' : 'false',
    TASKFLEET_STACK_DIR: ctx.dir,
    PROMETHEUS_URL: `http://${spec.prometheus.host}:${spec.prometheus.port}`,
    HOST: spec.host,
    PORT: String(spec.port),
  };
}

/**
 * Start the autoscaler and wait until it is ready (a pass has completed). Call it last, once every
 * replica runs and every list names them: from then on it may change state.json, the upstreams files,
 * nginx's list and Prometheus's targets itself (a scale), and nothing that started the stack may write
 * them again from what it remembers.
 */
export async function startAutoscaler(
  ctx: StartContext,
  spec: AutoscalerSpec,
  opts: { readyTimeoutMs?: number } = {},
): Promise<void> {
  const log = logFile(ctx, 'autoscaler');
  // The replicas it starts get this environment under the stack's own (services/env.json), as those of
  // a `make scale` get the caller's; no service reads what is added here.
  const env = autoscalerEnv(ctx, spec);
  const proc = launch(
    process.execPath,
    [...SERVICE_NODE_ARGS, repoPath('services/autoscaler/src/server.ts')],
    { stack: ctx.dir, logFile: log, env },
  );
  // Recorded in the same tick as the launch: the process can't have scaled (written state.json) yet.
  ctx.record({
    name: 'autoscaler',
    kind: 'autoscaler',
    ...proc,
    address: `${spec.host}:${spec.port}`,
    logFile: log,
    // A drain window (SHUTDOWN_DRAIN_MS, 0 unless set) comes before the close: the grace covers both.
    stop: { ...STOP, graceMs: STOP.graceMs + (Number(env.SHUTDOWN_DRAIN_MS) || 0) },
    // Before anything else: it must not scale a stack that is stopping.
    stopTier: -1,
  });
  await waitFor(
    'the autoscaler to be ready (a pass completed)',
    async () => (await fetch(`http://${spec.host}:${spec.port}/health/ready`)).ok,
    { timeoutMs: opts.readyTimeoutMs ?? 120_000, logFile: log, pid: proc.pid },
  );
  ctx.progress(`autoscaler ready on ${spec.host}:${spec.port} (${spec.mode}: tasks and gateway)`);
}
