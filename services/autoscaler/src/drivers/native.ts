// The native stack's replicas (`make up`): the same decisions as under Swarm, carried out by the stack
// runner's `scale` command, which starts or stops replicas and rewrites the gateways' upstreams files
// and nginx's upstream list. Which services, and each one's policy, come from the configuration
// (AUTOSCALER_SERVICES, AUTOSCALER_NATIVE_POLICY in label form) instead of labels.
//
// There is no version to update against: the count is read again just before the scale, and a count
// that changed since the listing (someone ran `scale` by hand) is a conflict, as under Swarm.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { JOB_LABEL, LABEL_PREFIX, policyFromLabels } from '../labels.ts';
import type { Policy } from '../policy.ts';
import type { Driver, Listing, ManagedService, ScaleResult } from './driver.ts';

const exec = promisify(execFile);

/** What the driver needs from the native stack: each service's replica count, and a way to set it. */
export interface NativeStack {
  replicas(): Promise<Record<string, number>>;
  scale(service: string, replicas: number): Promise<void>;
}

/** The services the native stack can scale (the worker needs no more than one; users is not asked for). */
export const NATIVE_SERVICES = ['tasks', 'gateway'];

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

/**
 * The stack runner in `dir`: counts from its state file (each running service replica is a component
 * named <service>-<k>), changes through `taskfleet-stack scale --dir DIR <service>=<n>`.
 */
export function stackRunner(dir: string): NativeStack {
  const stackDir = resolve(REPO_ROOT, dir);
  return {
    async replicas() {
      const state = JSON.parse(readFileSync(join(stackDir, 'state.json'), 'utf8')) as {
        endpoints?: { services?: { service: string }[] };
      };
      const counts: Record<string, number> = {};
      for (const r of state.endpoints?.services ?? []) counts[r.service] = (counts[r.service] ?? 0) + 1;
      return counts;
    },
    async scale(service, replicas) {
      await exec(
        process.execPath,
        [
          '--conditions=@taskfleet/source',
          join(REPO_ROOT, 'shared/infra/src/cli.ts'),
          'scale',
          '--dir',
          stackDir,
          `${service}=${replicas}`,
        ],
        { timeout: 180_000 },
      );
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
    this.services = opts.only?.length ? opts.only : NATIVE_SERVICES;
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
      const { policy, problems } = policyFromLabels(parsed.labels[service] ?? {});
      for (const problem of problems) this.problems.push({ service, problem });
      if (problems.length === 0) this.policies.set(service, policy);
      this.jobs.set(service, parsed.labels[service]?.[JOB_LABEL] ?? service);
    }
  }

  async list(): Promise<Listing> {
    const counts = await this.stack.replicas();
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
      services.push({ name, job: this.jobs.get(name) ?? name, replicas, updating: false, policy });
    }
    return { services, problems };
  }

  async scale(service: ManagedService, replicas: number): Promise<ScaleResult> {
    const now = (await this.stack.replicas())[service.name];
    if (now === undefined) return { ok: false, reason: 'gone', detail: 'no longer running' };
    if (now !== service.replicas)
      return { ok: false, reason: 'conflict', detail: `${service.replicas} when listed, ${now} now` };
    await this.stack.scale(service.name, replicas);
    return { ok: true };
  }

  async close(): Promise<void> {}
}
