// A single-node Swarm of its own for the Swarm driver's tests: one Docker-in-Docker container from the
// lab's node image (deploy/swarm/node: its engine also listens on /run/lab/docker.sock when that is
// mounted), a host directory mounted there so the driver reaches the engine from the host through
// DOCKER_HOST, `swarm init` inside it — never on the host's engine — and a small image loaded into it
// for the services' tasks. Everything it creates is named taskfleet-autoscaler-test-<pid> and labelled
// taskfleet.test-pid (what `make test` checks for leftovers), and removed by stop().
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { dockerEngineAnswers } from '@taskfleet/infra';
import type { DockerApi } from '../src/docker-api.ts';
import { dockerApi } from '../src/docker-api.ts';

const exec = promisify(execFile);

export const NODE_IMAGE = 'taskfleet/swarm-node:20.10.24';
/** The image the test services run (sleep): on the host already, loaded into the node. */
export const TASK_IMAGE = 'debian:bookworm-slim';
const NAME = `taskfleet-autoscaler-test-${process.pid}`;
// The lab's set (../shared/docs/containers.md: --privileged is refused on these VMs; this works).
const CAPS = [
  'SYS_ADMIN',
  'NET_ADMIN',
  'MKNOD',
  'SYS_PTRACE',
  'NET_RAW',
  'MAC_ADMIN',
  'SYSLOG',
  'IPC_LOCK',
  'SYS_NICE',
  'SYS_RAWIO',
  'LINUX_IMMUTABLE',
  'DAC_READ_SEARCH',
  'AUDIT_CONTROL',
];

const docker = async (args: string[], timeout = 120_000) =>
  (await exec('docker', args, { timeout, maxBuffer: 16 * 2 ** 20 })).stdout.trim();

/** Why the Swarm tests can't run here, or undefined when they can. */
export const imageExists = (image: string) =>
  docker(['image', 'inspect', image], 10_000).then(
    () => true,
    () => false,
  );

export async function swarmSkipReason(): Promise<string | undefined> {
  if (!(await dockerEngineAnswers(2_000)))
    return 'no Docker engine answers (scripts/docker-engine.sh ensure starts one)';
  for (const image of [NODE_IMAGE, TASK_IMAGE])
    if (!(await imageExists(image)))
      return `image ${image} is missing (make images; the lab's node image: docker build -t ${NODE_IMAGE} deploy/swarm/node)`;
  return undefined;
}

export interface SwarmNode {
  dockerHost: string;
  api: DockerApi;
  /** Copy an image from the host's engine into the node's. */
  load(image: string): Promise<void>;
  stop(): Promise<void>;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

export async function startSwarmNode(): Promise<SwarmNode> {
  const sockets = mkdtempSync(join(tmpdir(), `${NAME}-`));
  const stop = async () => {
    await docker(['rm', '-f', '-v', NAME]).catch(() => undefined);
    await docker(['volume', 'rm', NAME]).catch(() => undefined);
    // The engine wrote its socket as root; the directory is ours.
    rmSync(sockets, { recursive: true, force: true });
  };
  try {
    await docker(['volume', 'create', '--label', `taskfleet.test-pid=${process.pid}`, NAME]);
    await docker([
      'run',
      '-d',
      '--name',
      NAME,
      '--hostname',
      'autoscaler-test-node',
      '--label',
      `taskfleet.test-pid=${process.pid}`,
      ...CAPS.flatMap((c) => ['--cap-add', c]),
      '--security-opt',
      'seccomp=unconfined',
      '--security-opt',
      'apparmor=unconfined',
      '--security-opt',
      'systempaths=unconfined',
      '--cgroupns=host',
      '-v',
      '/sys/fs/cgroup:/sys/fs/cgroup:rw',
      '-v',
      `${NAME}:/var/lib/docker`,
      '-v',
      `${sockets}:/run/lab`,
      NODE_IMAGE,
    ]);
    const dockerHost = `unix://${join(sockets, 'docker.sock')}`;
    const api = dockerApi(dockerHost, 60_000);
    await until('the node’s engine to answer', async () => (await api.get('/info')) ?? undefined);
    await docker(['exec', NAME, 'docker', 'swarm', 'init', '--advertise-addr', 'eth0']);
    await loadImage(TASK_IMAGE);
    return {
      dockerHost,
      api,
      load: loadImage,
      stop: async () => {
        await api.close();
        await stop();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** `docker save` on the host into `docker load` in the node (no registry here). */
export async function loadImage(image: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const save = spawn('docker', ['save', image], { stdio: ['ignore', 'pipe', 'inherit'] });
    const load = spawn('docker', ['exec', '-i', NAME, 'docker', 'load', '-q'], {
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    save.stdout.pipe(load.stdin);
    save.on('error', reject);
    load.on('error', reject);
    load.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`docker load exited ${code}`))));
  });
}

/** A replicated service running `sleep` with these labels; its id. */
export async function createService(
  api: DockerApi,
  name: string,
  opts: {
    replicas: number;
    labels: Record<string, string>;
    limits?: { NanoCPUs?: number; MemoryBytes?: number };
  },
): Promise<string> {
  const created = await api.post<{ ID: string }>('/services/create', {
    Name: name,
    Labels: opts.labels,
    TaskTemplate: {
      // Stopped at once: sleep as PID 1 ignores SIGTERM, and a 10 s grace per task slows every test.
      ContainerSpec: {
        Image: TASK_IMAGE,
        Command: ['sleep', 'infinity'],
        Env: ['GENERATION=1'],
        StopGracePeriod: 1_000_000_000,
      },
      Resources: { Limits: opts.limits ?? {} },
    },
    Mode: { Replicated: { Replicas: opts.replicas } },
    UpdateConfig: { Parallelism: 1, FailureAction: 'pause', Order: 'stop-first' },
  });
  return created.ID;
}

export interface ServiceJson {
  ID: string;
  Version: { Index: number };
  Spec: {
    Name: string;
    Labels: Record<string, string>;
    Mode: { Replicated: { Replicas: number } };
    TaskTemplate: { ContainerSpec: { Env?: string[] }; ForceUpdate?: number };
    UpdateConfig?: Record<string, unknown>;
  };
  UpdateStatus?: { State: string };
}

export const inspect = (api: DockerApi, id: string) => api.get<ServiceJson>(`/services/${id}`);

/** Change a service the way a person or a deploy would (another writer), at its current version. */
export async function updateService(
  api: DockerApi,
  id: string,
  change: (spec: ServiceJson['Spec']) => ServiceJson['Spec'],
): Promise<void> {
  const s = await inspect(api, id);
  await api.post(`/services/${id}/update?version=${s.Version.Index}`, change(structuredClone(s.Spec)));
}

export const removeService = (api: DockerApi, id: string) => api.delete(`/services/${id}`);
