// The native stack's replicas (`make up`): the same decisions as under Swarm, carried out by the stack
// runner's scaling (shared/infra/src/scale.ts: a new replica is announced once ready — the gateways'
// upstreams files, nginx's upstream list and reload, Prometheus's targets — and one removed is withdrawn
// from them before it stops). Which services, and each one's policy, come from the configuration
// (AUTOSCALER_SERVICES, AUTOSCALER_NATIVE_POLICY in label form) instead of labels.
//
// There is no version to update against: the count is read again just before the scale, and a count
// that changed since the listing (someone ran `make scale`) is a conflict, as under Swarm; a scale
// running (scale.lock held by a live process) is "mid-update".
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { JOB_LABEL, LABEL_PREFIX, policyFromLabels } from '../labels.ts';
import type { Policy } from '../policy.ts';
import { DEFAULT_POLICY } from '../policy.ts';
import type { Driver, Listing, ManagedService, ScaleResult } from './driver.ts';

/** What the driver needs from the native stack: each service's replica count, and a way to set it. */
export interface NativeStack {
  replicas(): Promise<Record<string, number>>;
  /** A scale is under way (someone else's): hands off, as for a Swarm service mid-update. */
  busy(): Promise<boolean>;
  /** Resolves once the stack runs that many, in use; rejects with exitCode 75 while another scale runs. */
  scale(service: string, replicas: number): Promise<void>;
}

/** The services the native stack scales (shared/infra's SCALABLE_SERVICES), and those managed by default. */
export const NATIVE_SERVICES = ['tasks', 'worker', 'users', 'gateway'];
export const NATIVE_DEFAULT_SERVICES = ['tasks', 'gateway'];
/** shared/infra's MAX_REPLICAS (its fixed port layout has room for 8 of each; a unit test keeps them equal). */
export const NATIVE_MAX_REPLICAS = 8;
/**
 * The seed's policy within what the native stack can run: at most 8, and at least the 2 `make up` starts
 * with (failover) — an autoscaler started next to it changes nothing until the load says so.
 */
export const NATIVE_DEFAULT_POLICY: Policy = { ...DEFAULT_POLICY, min: 2, max: NATIVE_MAX_REPLICAS };

/**
 * The stack runner's own functions on the stack in `dir`. Imported when first used: @taskfleet/infra is
 * a development dependency (the stack runner lives in the repository), absent from the image, which
 * only ever drives Swarm.
 */
export function stackRunner(dir: string): NativeStack {
  const stackDir = resolve(dir);
  const infra = () => import('@taskfleet/infra');
  return {
    async replicas() {
      const { listReplicas, SCALABLE_SERVICES } = await infra();
      return Object.fromEntries(
        SCALABLE_SERVICES.map((s) => [s, listReplicas(stackDir, s).length] as const).filter(([, n]) => n > 0),
      );
    },
    async busy() {
      const { isAlive } = await infra();
      try {
        const holder = JSON.parse(readFileSync(join(stackDir, 'scale.lock'), 'utf8')) as {
          pid: number;
          startTicks: number;
        };
        return isAlive(holder.pid, holder.startTicks);
      } catch {
        return false; // no lock, or one being written or removed this moment: the scale itself decides
      }
    },
    async scale(service, replicas) {
      const { scaleService } = await infra();
      await scaleService(stackDir, service as Parameters<typeof scaleService>[1], replicas);
    },
  };
}

/** `tasks: min=1 max=4 up-period=30s; gateway: max=3` → each service's labels, and what is malformed. */
export function parseNativePolicies(text: string): {
  labels: Record<string, Record<string, string>>;
  problems: { service: string; problem: string }[];
} {
  const labels: Record<string, Record<string, string>> = {};
  const problems: { service: string; problem: string }[] = [];
  for (const part of text
    .split(';')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^([\w-]+)\s*:\s*(.*)$/.exec(part);
    if (!m) {
      problems.push({
        service: '(AUTOSCALER_NATIVE_POLICY)',
        problem: `"${part}" is not "service: key=value …"`,
      });
      continue;
    }
    const service = m[1]!;
    labels[service] ??= {};
    for (const pair of m[2]!.split(/\s+/).filter(Boolean)) {
      const kv = /^([\w-]+)=(\S+)$/.exec(pair);
      if (kv) labels[service][`${LABEL_PREFIX}.${kv[1]}`] = kv[2]!;
      else problems.push({ service, problem: `"${pair}" is not key=value` });
    }
  }
  return { labels, problems };
}

export interface NativeDriverOptions {
  stackDir: string;
  /** AUTOSCALER_NATIVE_POLICY */
  policies: string;
  /** AUTOSCALER_SERVICES: default tasks and gateway. */
  only?: string[];
  /** The stack to drive (tests); the stack runner in stackDir otherwise. */
  stack?: NativeStack;
}

export class NativeDriver implements Driver {
  readonly kind = 'native';
  private readonly stack: NativeStack;
  private readonly services: string[];
  private readonly policies = new Map<string, Policy>();
  private readonly jobs = new Map<string, string>();
  private readonly problems: { service: string; problem: string }[] = [];

  constructor(opts: NativeDriverOptions) {
    this.stack = opts.stack ?? stackRunner(opts.stackDir);
    this.services = opts.only?.length ? opts.only : NATIVE_DEFAULT_SERVICES;
    const parsed = parseNativePolicies(opts.policies);
    this.problems.push(...parsed.problems);
    for (const service of new Set([...this.services, ...Object.keys(parsed.labels)])) {
      if (!NATIVE_SERVICES.includes(service)) {
        this.problems.push({
          service,
          problem: `unknown service (the native stack scales ${NATIVE_SERVICES.join(', ')})`,
        });
        continue;
      }
      const { policy, problems } = policyFromLabels(parsed.labels[service] ?? {}, NATIVE_DEFAULT_POLICY);
      if (policy.max > NATIVE_MAX_REPLICAS)
        problems.push(
          `max ${policy.max} is above the ${NATIVE_MAX_REPLICAS} replicas the native stack can run`,
        );
      for (const problem of problems) this.problems.push({ service, problem });
      if (problems.length === 0) this.policies.set(service, policy);
      this.jobs.set(service, parsed.labels[service]?.[JOB_LABEL] ?? service);
    }
  }

  async list(): Promise<Listing> {
    const [counts, busy] = await Promise.all([this.stack.replicas(), this.stack.busy()]);
    const services: ManagedService[] = [];
    const problems = [...this.problems];
    for (const name of this.services) {
      const policy = this.policies.get(name);
      if (!policy) continue;
      const replicas = counts[name];
      if (replicas === undefined) {
        problems.push({ service: name, problem: 'not running in the native stack' });
        continue;
      }
      // The job is the service's name natively (the stack's Prometheus targets say so) unless `job=`
      // says otherwise. No limits: CPU is a fraction of one core (a Node process's JavaScript runs on
      // one), and no memory signal.
      services.push({ name, job: this.jobs.get(name) ?? name, replicas, updating: busy, policy });
    }
    return { services, problems };
  }

  async scale(service: ManagedService, replicas: number): Promise<ScaleResult> {
    const now = (await this.stack.replicas())[service.name];
    if (now === undefined) return { ok: false, reason: 'gone', detail: 'no longer running' };
    if (now !== service.replicas)
      return { ok: false, reason: 'conflict', detail: `${service.replicas} when listed, ${now} now` };
    try {
      await this.stack.scale(service.name, replicas);
    } catch (err) {
      // Another scale took the stack's lock first: someone else's change is under way.
      if ((err as { exitCode?: number }).exitCode === 75)
        return { ok: false, reason: 'updating', detail: (err as Error).message };
      throw err;
    }
    return { ok: true };
  }

  async close(): Promise<void> {}
}
