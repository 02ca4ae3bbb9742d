// `docker stack deploy` of deploy/swarm/stack.yml, refused before anything is created when it could only
// half work: a missing secret file, a placement no node can satisfy (a missing node label), an image the
// registry doesn't have, an engine too old for Swarm jobs. Every problem is listed at once. Then it
// deploys and waits until every service has its replicas running and every job has completed.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { repoPath } from '../paths.ts';
import { type DockerTarget, docker, jsonLines, succeeds } from './docker.ts';
import { missingSecrets, SECRET_FILES } from './secrets.ts';

export const STACK_FILE = repoPath('deploy/swarm/stack.yml');

export interface DeployOptions {
  /** The manager to deploy through. */
  target: DockerTarget;
  stack: string;
  /** stack.yml first, then overrides (deploy/swarm/lab.yml in the lab). */
  composeFiles: readonly string[];
  secretsDir: string;
  /** Registry host:port the nodes pull from (TASKFLEET_REGISTRY). */
  registry: string;
  /** The same registry as this machine reaches it, for the image check (default: `registry`). */
  registryFromHere?: string;
  /** Plain-HTTP registry (the lab's). */
  insecureRegistry?: boolean;
  /** Extra interpolation variables (TASKFLEET_VERSION, tuning of the lab). */
  env?: Record<string, string>;
  /** `docker stack deploy --resolve-image`: `never` where the CLI can't reach the nodes' registry. */
  resolveImage?: 'always' | 'changed' | 'never';
  convergeTimeoutMs?: number;
  progress?: (message: string) => void;
}

interface StackService {
  image: string;
  deploy?: { mode?: string; placement?: { constraints?: string[] } };
}

interface NodeInfo {
  id: string;
  hostname: string;
  role: string;
  state: string;
  availability: string;
  labels: Record<string, string>;
}

export class DeployRefused extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`deploy refused, nothing was changed:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

/** By file name and contents, not where the checkout is: the same files deploy under the same names. */
const hashOf = (paths: readonly string[]) => {
  const h = createHash('sha256');
  const byName = [...paths].sort((a, b) => basename(a).localeCompare(basename(b)) || a.localeCompare(b));
  for (const p of byName) h.update(basename(p)).update('\0').update(readFileSync(p)).update('\0');
  return h.digest('hex').slice(0, 12);
};

/** The interpolation variables of a deploy (without the content versions). */
function baseEnv(opts: DeployOptions): Record<string, string> {
  return {
    TASKFLEET_REGISTRY: opts.registry,
    TASKFLEET_SECRETS_DIR: resolve(opts.secretsDir),
    ...opts.env,
  };
}

const composeArgs = (opts: DeployOptions) => opts.composeFiles.flatMap((f) => ['-c', f]);

/** The stack as Docker reads it (interpolated, merged), and the variables that made it. */
async function stackConfig(opts: DeployOptions, versions: { secrets: string; configs: string }) {
  const env = {
    ...baseEnv(opts),
    TASKFLEET_SECRETS_VERSION: versions.secrets,
    TASKFLEET_CONFIGS_VERSION: versions.configs,
  };
  const text = await docker({}, ['stack', 'config', ...composeArgs(opts)], { env });
  return {
    env,
    config: parse(text) as {
      services: Record<string, StackService>;
      configs?: Record<string, { file?: string }>;
    },
  };
}

async function nodes(target: DockerTarget): Promise<NodeInfo[]> {
  const ids = (await docker(target, ['node', 'ls', '-q'])).split('\n').filter(Boolean);
  if (ids.length === 0) return [];
  const raw = JSON.parse(await docker(target, ['node', 'inspect', ...ids])) as {
    ID: string;
    Spec: { Role: string; Availability: string; Labels: Record<string, string> | null };
    Description: { Hostname: string };
    Status: { State: string };
  }[];
  return raw.map((n) => ({
    id: n.ID,
    hostname: n.Description.Hostname,
    role: n.Spec.Role,
    state: n.Status.State,
    availability: n.Spec.Availability,
    labels: n.Spec.Labels ?? {},
  }));
}

/** Does `node` satisfy one placement constraint (`node.labels.k == v`, `node.role != worker`, …)? */
export function satisfies(node: NodeInfo, constraint: string): boolean {
  const m = /^\s*([\w.-]+)\s*(==|!=)\s*(.+?)\s*$/.exec(constraint);
  if (!m) return false;
  const [, key, op, value] = m as unknown as [string, string, string, string];
  let actual: string | undefined;
  if (key.startsWith('node.labels.')) actual = node.labels[key.slice('node.labels.'.length)];
  else if (key === 'node.role') actual = node.role;
  else if (key === 'node.hostname') actual = node.hostname;
  else if (key === 'node.id') actual = node.id;
  return op === '==' ? actual === value : actual !== value;
}

/** Every reason the deploy would half work; empty when it can go ahead. */
export async function preflight(
  opts: DeployOptions,
): Promise<{ problems: string[]; env: Record<string, string> }> {
  const problems: string[] = [];
  for (const name of missingSecrets(opts.secretsDir))
    problems.push(
      `secret file ${join(opts.secretsDir, name)} is missing or empty (make swarm-secrets makes it)`,
    );
  const secretsVersion =
    problems.length === 0 ? hashOf(SECRET_FILES.map((n) => join(opts.secretsDir, n))) : 'unknown';

  let parsed: Awaited<ReturnType<typeof stackConfig>>;
  try {
    // Config files' paths come out of the merged file; their contents name the configs.
    const first = await stackConfig(opts, { secrets: secretsVersion, configs: 'pending' });
    const configFiles = Object.values(first.config.configs ?? {}).flatMap((c) => (c.file ? [c.file] : []));
    parsed = await stackConfig(opts, { secrets: secretsVersion, configs: hashOf(configFiles) });
  } catch (err) {
    return { problems: [...problems, `the stack file does not check: ${(err as Error).message}`], env: {} };
  }

  const [apiVersion, nodeList] = await Promise.all([
    docker(opts.target, ['version', '--format', '{{.Server.APIVersion}}']).then((v) => v.trim()),
    nodes(opts.target),
  ]);
  const [major = 0, minor = 0] = apiVersion.split('.').map(Number);
  if (major < 1 || (major === 1 && minor < 41))
    problems.push(
      `the engine's API is ${apiVersion}; Swarm jobs (the migrations) need 1.41 (Docker 20.10) or later`,
    );
  const usable = nodeList.filter((n) => n.state === 'ready' && n.availability === 'active');

  for (const [name, service] of Object.entries(parsed.config.services)) {
    const constraints = service.deploy?.placement?.constraints ?? [];
    if (constraints.length > 0 && !usable.some((n) => constraints.every((c) => satisfies(n, c))))
      problems.push(
        `service ${name}: no ready node satisfies ${constraints.join(' and ')} (label a node: docker node update --label-add …)`,
      );
  }

  const images = [...new Set(Object.values(parsed.config.services).map((s) => s.image))];
  const here = opts.registryFromHere ?? opts.registry;
  const missing = await Promise.all(
    images.map(async (image) => {
      const local = image.startsWith(`${opts.registry}/`)
        ? `${here}/${image.slice(opts.registry.length + 1)}`
        : image;
      const args = ['manifest', 'inspect', ...(opts.insecureRegistry ? ['--insecure'] : []), local];
      return (await succeeds({}, args)) ? undefined : image;
    }),
  );
  for (const image of missing)
    if (image) problems.push(`image ${image} is not in the registry (push it first)`);
  return { problems, env: parsed.env };
}

interface ServiceRow {
  Name: string;
  Mode: string;
  Replicas: string;
  Image: string;
}

/** Each service of the stack: running/desired (jobs: completed/total). */
export async function stackServices(target: DockerTarget, stack: string) {
  const rows = jsonLines<ServiceRow>(
    await docker(target, [
      'service',
      'ls',
      '--filter',
      `label=com.docker.stack.namespace=${stack}`,
      '--format',
      '{{json .}}',
    ]),
  );
  return rows.map((r) => {
    // "2/3", or for jobs "0/1 (1/1 completed)"
    const m = /^(\d+)\/(\d+)(?: \((\d+)\/(\d+) completed\))?/.exec(r.Replicas);
    const job = r.Mode.endsWith('job');
    const running = Number(m?.[1] ?? 0);
    const desired = Number(m?.[2] ?? 0);
    const completed = Number(m?.[3] ?? 0);
    const total = Number(m?.[4] ?? 0);
    return {
      name: r.Name,
      mode: r.Mode,
      image: r.Image,
      replicas: r.Replicas,
      converged: job ? total > 0 && completed >= total : running === desired,
    };
  });
}

export async function deployStack(opts: DeployOptions): Promise<void> {
  const say = opts.progress ?? (() => {});
  say('checking secrets, node labels and images');
  const { problems, env } = await preflight(opts);
  if (problems.length > 0) throw new DeployRefused(problems);
  say(`deploying stack ${opts.stack}`);
  await docker(
    opts.target,
    [
      'stack',
      'deploy',
      '--with-registry-auth',
      '--prune',
      '--resolve-image',
      opts.resolveImage ?? 'always',
      ...composeArgs(opts),
      opts.stack,
    ],
    { env, timeoutMs: 300_000 },
  );
  await waitConverged(opts.target, opts.stack, opts.convergeTimeoutMs ?? 15 * 60_000, say);
}

/** Until every service of the stack has its replicas running and every job has completed. */
export async function waitConverged(
  target: DockerTarget,
  stack: string,
  timeoutMs: number,
  say: (m: string) => void = () => {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const services = await stackServices(target, stack);
    const pending = services.filter((s) => !s.converged);
    if (services.length > 0 && pending.length === 0) return;
    const line = pending.map((s) => `${s.name} ${s.replicas}`).join(', ');
    if (line !== last) say(`waiting for ${line}`);
    last = line;
    if (Date.now() > deadline) {
      const errors = await docker(target, [
        'stack',
        'ps',
        stack,
        '--no-trunc',
        '--filter',
        'desired-state=running',
        '--format',
        '{{.Name}} {{.Node}} {{.CurrentState}} {{.Error}}',
      ]).catch(() => '');
      throw new Error(`stack ${stack} did not converge within ${timeoutMs / 1000} s: ${line}\n${errors}`);
    }
    await new Promise((r) => setTimeout(r, 2_000));
  }
}
