// Swarm services through the Docker Engine API (on a manager). A service is managed when its service
// labels (`deploy.labels` in a stack file) say `taskfleet.autoscale=true`; its policy is the other
// `taskfleet.autoscale.*` labels. Scaling is a versioned update: the spec as it was read, with only the
// replica count changed, sent with the version it was read at — if anyone (a deploy, a person, another
// autoscaler) changed the service since, the engine refuses ("update out of sequence") and nothing is
// overwritten; the next pass reads it again.
import type { DockerApi } from '../docker-api.ts';
import { DockerApiError, dockerApi } from '../docker-api.ts';
import { autoscaleEnabled, ENABLE_LABEL, JOB_LABEL, policyFromLabels } from '../labels.ts';
import type { Driver, Listing, ManagedService, ScaleResult } from './driver.ts';

/** The parts of GET /services the driver reads (the spec is sent back whole, as read). */
interface SwarmServiceJson {
  ID: string;
  Version: { Index: number };
  Spec: {
    Name: string;
    Labels?: Record<string, string>;
    Mode?: { Replicated?: { Replicas?: number }; Global?: object };
    TaskTemplate?: { Resources?: { Limits?: { NanoCPUs?: number; MemoryBytes?: number } } };
    [key: string]: unknown;
  };
  UpdateStatus?: { State?: string };
}

/** UpdateStatus states in which the orchestrator is (or was left) mid-change: hands off. */
export const BUSY_STATES = new Set(['updating', 'rollback_started', 'rollback_paused', 'paused']);

export interface SwarmDriverOptions {
  dockerHost: string;
  /** Stripped from a service's name for its default job name (taskfleet_tasks → tasks). */
  stackPrefix: string;
  /** Only these services (with or without the prefix); each must exist and be labelled. */
  only?: string[];
}

export class SwarmDriver implements Driver {
  readonly kind = 'swarm';
  private readonly api: DockerApi;
  /** The last listing's id, version and spec of each service: what an update is based on. */
  private readonly read = new Map<string, SwarmServiceJson>();

  private readonly opts: SwarmDriverOptions;

  constructor(opts: SwarmDriverOptions) {
    this.opts = opts;
    this.api = dockerApi(opts.dockerHost);
  }

  async list(): Promise<Listing> {
    // Every service carrying the label, whatever its value: "yes" is reported, not ignored.
    const filters = encodeURIComponent(JSON.stringify({ label: [ENABLE_LABEL] }));
    const all = await this.api.get<SwarmServiceJson[]>(`/services?filters=${filters}`);
    const only = this.opts.only?.length ? new Set(this.opts.only) : undefined;
    const wanted = (name: string) =>
      !only || only.has(name) || only.has(name.slice(this.opts.stackPrefix.length));
    const listing: Listing = { services: [], problems: [] };
    this.read.clear();
    for (const s of all) {
      const name = s.Spec.Name;
      if (!wanted(name)) continue;
      const labels = s.Spec.Labels ?? {};
      const enabled = autoscaleEnabled(labels);
      if (enabled === false) continue;
      const problems = typeof enabled === 'string' ? [enabled] : [];
      const { policy, problems: policyProblems } = policyFromLabels(labels);
      problems.push(...policyProblems);
      const replicas = s.Spec.Mode?.Replicated?.Replicas;
      if (replicas === undefined) problems.push('is not a replicated service (global mode can not scale)');
      if (problems.length) {
        for (const problem of problems) listing.problems.push({ service: name, problem });
        continue;
      }
      const limits = s.Spec.TaskTemplate?.Resources?.Limits ?? {};
      this.read.set(name, s);
      const service: ManagedService = {
        name,
        job: labels[JOB_LABEL] || stripPrefix(name, this.opts.stackPrefix),
        replicas: replicas!,
        updating: BUSY_STATES.has(s.UpdateStatus?.State ?? ''),
        policy,
      };
      if (limits.NanoCPUs) service.cpuLimit = limits.NanoCPUs / 1e9;
      if (limits.MemoryBytes) service.memoryLimit = limits.MemoryBytes;
      listing.services.push(service);
    }
    if (only) {
      const seen = new Set(all.map((s) => s.Spec.Name));
      for (const name of only)
        if (!seen.has(name) && !seen.has(`${this.opts.stackPrefix}${name}`))
          listing.problems.push({
            service: name,
            problem: `named in AUTOSCALER_SERVICES, but no service labelled ${ENABLE_LABEL} has that name`,
          });
    }
    return listing;
  }

  async scale(service: ManagedService, replicas: number): Promise<ScaleResult> {
    const read = this.read.get(service.name);
    if (!read) return { ok: false, reason: 'gone', detail: 'not in the last listing' };
    const spec = { ...read.Spec, Mode: { Replicated: { Replicas: replicas } } };
    try {
      await this.api.post(`/services/${read.ID}/update?version=${read.Version.Index}`, spec);
      // Only once: a second decision on the same read would be refused anyway.
      this.read.delete(service.name);
      return { ok: true };
    } catch (err) {
      if (err instanceof DockerApiError) {
        if (/out of sequence/i.test(err.message))
          return { ok: false, reason: 'conflict', detail: err.message };
        if (err.status === 404) return { ok: false, reason: 'gone', detail: err.message };
      }
      throw err;
    }
  }

  close(): Promise<void> {
    return this.api.close();
  }
}

export const stripPrefix = (name: string, prefix: string) =>
  prefix && name.startsWith(prefix) ? name.slice(prefix.length) : name;
