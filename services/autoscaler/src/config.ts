// The autoscaler's configuration, validated once (every problem in one error, exit 2). The policy of
// each service is not here: it is in the service's labels (Swarm) or AUTOSCALER_NATIVE_POLICY (native),
// checked when the autoscaler first lists the services (startup.ts) — also every problem at once.
import { commaList, loadSettings, serverSettings } from '@taskfleet/service';
import type { Static } from 'typebox';
import { Type } from 'typebox';
import { parseDuration } from './labels.ts';

export const ConfigSchema = Type.Object({
  ...serverSettings(3500),
  /** What it scales: Swarm services through the Docker Engine API, or the native stack's replicas. */
  AUTOSCALER_DRIVER: Type.Enum(['swarm', 'native'], { default: 'swarm' }),
  /** One pass over every managed service this often (passes never overlap). */
  AUTOSCALER_INTERVAL: Type.String({ default: '15s' }),
  /** Decide, log and count, but never change a replica count. */
  AUTOSCALER_DRY_RUN: Type.Enum(['true', 'false'], { default: 'false' }),
  /**
   * Optional: only these services (Swarm: with or without the stack prefix; native: tasks, gateway).
   * A name that is not there stops the start. Empty: every service labelled taskfleet.autoscale=true
   * (Swarm), tasks and gateway (native).
   */
  AUTOSCALER_SERVICES: Type.String({ default: '' }),
  PROMETHEUS_URL: Type.String({ minLength: 1 }),
  /** Each query's bound: a Prometheus that does not answer in time counts as unreachable (hold). */
  PROMETHEUS_TIMEOUT: Type.String({ default: '5s' }),
  /** The range of the rate() of CPU seconds and requests: at least four scrape intervals. */
  AUTOSCALER_RATE_WINDOW: Type.String({ default: '1m' }),
  /** The Docker Engine API: unix:///path/to/docker.sock or tcp://host:port (plain HTTP). */
  DOCKER_HOST: Type.String({ default: 'unix:///var/run/docker.sock' }),
  /** `docker stack deploy -c … taskfleet` names services taskfleet_<name>; the job name drops it. */
  AUTOSCALER_STACK_PREFIX: Type.String({ default: 'taskfleet_' }),
  /** Native driver: the stack's directory (the one `make up` runs; holds state.json). */
  TASKFLEET_STACK_DIR: Type.String({ default: '.stack' }),
  /**
   * Native driver: each service's policy in label form, `tasks: min=1 max=4 up-period=30s; gateway: max=3`
   * (keys as the Swarm labels after `taskfleet.autoscale.`).
   */
  AUTOSCALER_NATIVE_POLICY: Type.String({ default: '' }),
});
export type RawConfig = Static<typeof ConfigSchema>;
export interface Config extends Omit<RawConfig, 'AUTOSCALER_DRY_RUN'> {
  dryRun: boolean;
  intervalMs: number;
  prometheusTimeoutMs: number;
  services: string[];
}

export { ConfigError } from '@taskfleet/service';

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw = loadSettings<RawConfig>(ConfigSchema, env, (c, problems) => {
    for (const key of ['AUTOSCALER_INTERVAL', 'PROMETHEUS_TIMEOUT'] as const) {
      const ms = parseDuration(c[key]);
      if (ms === undefined || ms < 1000) problems.push(`${key}: "${c[key]}" is not a duration of 1s or more`);
    }
    if (!/^\d+[smh]$/.test(c.AUTOSCALER_RATE_WINDOW))
      problems.push(`AUTOSCALER_RATE_WINDOW: "${c.AUTOSCALER_RATE_WINDOW}" is not a PromQL range (1m, 90s)`);
    if (!/^(unix:\/\/\/.+|tcp:\/\/[^/]+:\d+)$/.test(c.DOCKER_HOST))
      problems.push(`DOCKER_HOST: "${c.DOCKER_HOST}" is neither unix:///path nor tcp://host:port`);
    try {
      new URL(c.PROMETHEUS_URL);
    } catch {
      if (c.PROMETHEUS_URL) problems.push(`PROMETHEUS_URL: "${c.PROMETHEUS_URL}" is not a URL`);
    }
  });
  const { AUTOSCALER_DRY_RUN, ...rest } = raw;
  return {
    ...rest,
    dryRun: AUTOSCALER_DRY_RUN === 'true',
    intervalMs: parseDuration(raw.AUTOSCALER_INTERVAL)!,
    prometheusTimeoutMs: parseDuration(raw.PROMETHEUS_TIMEOUT)!,
    services: commaList(raw.AUTOSCALER_SERVICES),
  };
}
