// The stack under Docker: docker-compose.yml run by `docker compose` (v2) when the CLI has it, else
// `docker-compose` (v1, what Debian 12 ships). Behind `make up|down|status|clean` on the docker runtime
// and the compose end-to-end tests, so both go through the same code: build the missing images, start,
// wait until every container is healthy (and every one-shot has exited 0), report, stop.
import { execFile, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from './paths.ts';
import { run } from './proc.ts';

export interface ComposeProject {
  /** The compose project name (containers, networks and volumes are labelled with it). */
  name: string;
  /** Compose files, relative to the repository root; the first is docker-compose.yml. */
  files?: string[];
  /** Variables for interpolation, over the process environment and .env. */
  env?: Record<string, string>;
  profiles?: string[];
}

export interface ContainerStatus {
  name: string;
  service: string;
  /** The replica number (1, 2, …). */
  index: number;
  /** running, exited, restarting, … (Docker's State.Status). */
  state: string;
  /** healthy, unhealthy, starting, or none (no health check). */
  health: string;
  exitCode: number;
  restarts: number;
  /** Published ports as "host:port->container/proto". */
  ports: string[];
  /** The address on the project's network. */
  address: string;
  /** A one-shot job (restart "no"): done when it has exited 0. */
  oneShot: boolean;
}

let cached: Promise<string[]> | undefined;
/** The compose command: `docker compose` (v2) if the CLI has the plugin, else `docker-compose` (v1). */
export function composeCommand(): Promise<string[]> {
  cached ??= (async () => {
    try {
      await run('docker', ['compose', 'version'], { timeoutMs: 10_000 });
      return ['docker', 'compose'];
    } catch {}
    try {
      await run('docker-compose', ['version'], { timeoutMs: 10_000 });
      return ['docker-compose'];
    } catch {}
    throw new Error(
      'neither `docker compose` (v2) nor `docker-compose` (v1) is installed (apt-get install docker-compose)',
    );
  })();
  return cached;
}

function composeEnv(project: ComposeProject): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...project.env,
    COMPOSE_PROJECT_NAME: project.name,
    ...(project.profiles?.length ? { COMPOSE_PROFILES: project.profiles.join(',') } : {}),
    // Compose v1 builds with the legacy builder too; the images are built by deploy/images/build.sh.
    DOCKER_BUILDKIT: '0',
  };
}

async function composeArgs(project: ComposeProject, args: string[]): Promise<[string, string[]]> {
  const [bin, ...pre] = await composeCommand();
  const files = (project.files ?? ['docker-compose.yml']).flatMap((f) => ['-f', f]);
  return [bin!, [...pre, '-p', project.name, ...files, ...args]];
}

/** Run a compose command with its output on ours (progress a person can follow), or quietly. */
export async function compose(
  project: ComposeProject,
  args: string[],
  opts: { quiet?: boolean } = {},
): Promise<void> {
  const [bin, argv] = await composeArgs(project, args);
  await visibly(bin, argv, { env: composeEnv(project), quiet: opts.quiet ?? false });
}

/** Build the images of the compose file (deploy/images/build.sh), each build's line on our output. */
export async function buildImages(opts: { missingOnly: boolean }): Promise<void> {
  await visibly('deploy/images/build.sh', opts.missingOnly ? ['--missing'] : [], { quiet: false });
}

/** Run a command from the repository root; quiet, its stderr's tail goes into the error if it fails. */
async function visibly(
  bin: string,
  argv: string[],
  opts: { env?: NodeJS.ProcessEnv; quiet: boolean },
): Promise<void> {
  const child = spawn(bin, argv, {
    cwd: REPO_ROOT,
    env: opts.env ?? process.env,
    stdio: opts.quiet ? ['ignore', 'ignore', 'pipe'] : 'inherit',
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4_000);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0)
    throw new Error(`${bin} ${argv.join(' ')} failed (exit ${code})${stderr ? `:\n${stderr}` : ''}`);
}

/** Every container of the project (running or not), from `docker inspect`. */
export async function projectContainers(project: string): Promise<ContainerStatus[]> {
  const ids = (await run('docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`]))
    .split('\n')
    .filter(Boolean);
  if (ids.length === 0) return [];
  const inspected = JSON.parse(await run('docker', ['inspect', ...ids])) as Inspect[];
  return inspected
    .map((c) => ({
      name: c.Name.replace(/^\//, ''),
      service: c.Config.Labels['com.docker.compose.service'] ?? '?',
      index: Number(c.Config.Labels['com.docker.compose.container-number'] ?? 0),
      state: c.State.Status,
      health: c.State.Health?.Status ?? 'none',
      exitCode: c.State.ExitCode,
      restarts: c.RestartCount,
      ports: Object.entries(c.NetworkSettings.Ports ?? {}).flatMap(([inside, bindings]) =>
        (bindings ?? []).map((b) => `${b.HostIp}:${b.HostPort}->${inside}`),
      ),
      address: Object.values(c.NetworkSettings.Networks ?? {})[0]?.IPAddress ?? '',
      oneShot: (c.HostConfig.RestartPolicy?.Name ?? 'no') === 'no',
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

interface Inspect {
  Name: string;
  RestartCount: number;
  Config: { Labels: Record<string, string> };
  State: { Status: string; ExitCode: number; Health?: { Status: string } };
  HostConfig: { RestartPolicy?: { Name: string } };
  NetworkSettings: {
    Ports?: Record<string, { HostIp: string; HostPort: string }[] | null>;
    Networks?: Record<string, { IPAddress: string }>;
  };
}

/** Done: a one-shot exited 0; a server running and healthy (or running, without a health check). */
export const isReady = (c: ContainerStatus) =>
  c.oneShot
    ? c.state === 'exited' && c.exitCode === 0
    : c.state === 'running' && c.health !== 'starting' && c.health !== 'unhealthy';

/** A container that will not get there by itself: a failed one-shot, or a server that gave up. */
const hasFailed = (c: ContainerStatus) =>
  c.oneShot ? c.state === 'exited' && c.exitCode !== 0 : c.health === 'unhealthy' || c.state === 'dead';

/** Wait until every container of the project is ready; throws with the failing ones' last log lines. */
export async function waitHealthy(
  project: string,
  opts: { timeoutMs: number; onProgress?: (m: string) => void },
): Promise<ContainerStatus[]> {
  const deadline = Date.now() + opts.timeoutMs;
  let last = '';
  for (;;) {
    const containers = await projectContainers(project);
    const waiting = containers.filter((c) => !isReady(c));
    const failed = containers.filter(hasFailed);
    if (containers.length > 0 && waiting.length === 0) return containers;
    if (failed.length > 0 || Date.now() > deadline) {
      const culprits = failed.length > 0 ? failed : waiting;
      const logs = await Promise.all(
        culprits.map(async (c) => {
          const tail = await containerLogs(c.name, 20);
          return `--- ${c.name} (${c.state}, ${c.health}, exit ${c.exitCode})\n${tail}`;
        }),
      );
      throw new Error(
        `${failed.length > 0 ? 'failed' : 'not healthy in time'}: ${culprits.map((c) => c.name).join(', ')}\n${logs.join('\n')}`,
      );
    }
    const line = `waiting for ${waiting.map((c) => `${c.service} (${c.health === 'none' ? c.state : c.health})`).join(', ')}`;
    if (line !== last) opts.onProgress?.(line);
    last = line;
    await sleep(1_000);
  }
}

/** The last lines a container wrote (stdout and stderr, interleaved as Docker kept them). */
export function containerLogs(name: string, lines: number): Promise<string> {
  return new Promise((resolve) => {
    execFile(
      'docker',
      ['logs', '--tail', String(lines), name],
      { maxBuffer: 4 << 20 },
      (err, stdout, stderr) => resolve(`${stdout}${stderr}` || (err?.message ?? '')),
    );
  });
}

/** What is left of a project after `down -v`: containers, networks and volumes carrying its label. */
export async function projectLeftovers(project: string): Promise<string[]> {
  const label = `label=com.docker.compose.project=${project}`;
  const list = async (what: string[]) =>
    (await run('docker', [...what, '--filter', label])).split('\n').filter(Boolean);
  return [
    ...(await list(['ps', '-aq'])).map((id) => `container ${id}`),
    ...(await list(['network', 'ls', '-q'])).map((id) => `network ${id}`),
    ...(await list(['volume', 'ls', '-q'])).map((id) => `volume ${id}`),
  ];
}

/** The name compose gives a container: project_service_1 (v1) or project-service-1 (v2). */
export async function containerName(project: string, service: string, index: number): Promise<string> {
  const sep = (await composeCommand())[0] === 'docker-compose' ? '_' : '-';
  return [project, service, index].join(sep);
}

/** One `HOST:PORT` published for a container port ("8443/tcp"), from a status entry. */
export function publishedPort(c: ContainerStatus, inside: string): number | undefined {
  const binding = c.ports.find((p) => p.endsWith(`->${inside}`));
  return binding ? Number(binding.split('->')[0]!.split(':').at(-1)) : undefined;
}
