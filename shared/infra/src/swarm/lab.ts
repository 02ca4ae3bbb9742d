// The Swarm lab: three Docker-in-Docker nodes on this machine (one manager, two workers), a registry of
// the project's own, and the stack deployed on them exactly as on VMs (deploy.ts) — a rehearsal of
// docs/deploy-swarm.md, and where the rolling-update, rollback, node-loss and autoscaler tests run.
//
// Everything it makes is named taskfleet-lab-*; `down` removes exactly that. The edge and Prometheus are
// published on 127.0.0.1 only (random ports, read back by `status`). The nodes' engine sockets are
// bind-mounted under the state directory, so the host's CLI drives the manager with DOCKER_HOST.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoPath } from '../paths.ts';
import { run } from '../proc.ts';
import { deployStack, STACK_FILE, stackServices } from './deploy.ts';
import { type DockerTarget, docker, succeeds } from './docker.ts';
import { ensureSecrets } from './secrets.ts';

export const LAB = 'taskfleet-lab';
export const STACK = 'taskfleet';
const NETWORK = LAB;
// Outside Docker's default pools (172.17-31/16, 192.168/20s from the top) and Swarm's (10.0.0.0/8).
const SUBNET = '192.168.213.0/24';
const REGISTRY = `${LAB}-registry`;
/** How the nodes reach the registry (a network alias; their engines trust it over plain HTTP). */
export const LAB_REGISTRY = 'registry:5000';
const NODE_IMAGE = 'taskfleet/swarm-node:20.10.24';
const REGISTRY_IMAGE = 'taskfleet/registry:2.8.2';
const NODES = ['node1', 'node2', 'node3'] as const;
export const MANAGER = `${LAB}-node1`;

/** The project's images the stack runs (deploy/images/build.sh names and tags). */
export const STACK_IMAGES = [
  'taskfleet/postgres:15.20',
  'taskfleet/pgbouncer:1.18',
  'taskfleet/redis:7.0.15',
  'taskfleet/rabbitmq:3.10.8',
  'taskfleet/nginx:1.22.1',
  'taskfleet/prometheus:2.42.0',
  'taskfleet/alertmanager:0.25.0',
  'taskfleet/postgres-exporter:0.11.1',
  'taskfleet/pgbouncer-exporter:1.7',
  'taskfleet/redis-exporter:1.45.0',
  'taskfleet/node-exporter:1.5.0',
  'taskfleet/blackbox-exporter:0.23.0',
  'taskfleet/tasks:0.1.0',
  'taskfleet/users:0.1.0',
  'taskfleet/worker:0.1.0',
  'taskfleet/gateway:0.1.0',
  'taskfleet/autoscaler:0.1.0',
];

/**
 * The lab's tuning of the stack: a client on one address may send far more than a person would, and
 * health checks and update monitoring are shorter so tests of rollouts end sooner — the same relation
 * (monitor longer than the start period, drain longer than the re-resolve interval) as in production.
 */
export const LAB_ENV: Record<string, string> = {
  TASKFLEET_NGINX_IP_RATE: '5000r/s',
  TASKFLEET_NGINX_IP_BURST: '5000',
  // The tests' load comes from one address (this machine) and makes its accounts in a burst.
  TASKFLEET_RATE_LIMIT_IP_MAX: '1000000',
  TASKFLEET_RATE_LIMIT_AUTH_MAX: '1000',
  // Three nodes, twenty-odd containers and the test's own load share this machine's 2 cores: a stall of
  // a few hundred milliseconds there is the host's, not a gateway's own saturation (what shedding is for).
  TASKFLEET_SHED_DELAY_MS: '1000',
  TASKFLEET_START_PERIOD: '30s',
  // Deciding, not acting, until a test turns it on (test/swarm/lab.test.ts, the autoscaler's ramp): a
  // rollout test must not have replicas added under it.
  TASKFLEET_AUTOSCALER_DRY_RUN: 'true',
  TASKFLEET_AUTOSCALER_INTERVAL: '5s',
  TASKFLEET_UPDATE_MONITOR: '35s',
  TASKFLEET_HTTP_PORT: '8080',
  TASKFLEET_HTTPS_PORT: '8443',
};

// What a Docker engine inside a container needs here (../shared/docs/containers.md: --privileged is
// refused on these VMs; this set works).
const NODE_CAPS = [
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

export interface LabOptions {
  /** State: the nodes' sockets, the secrets, lab.json. */
  dir: string;
  progress?: (message: string) => void;
}

export const labDir = () => process.env.TASKFLEET_LAB_DIR ?? repoPath('.stack/swarm-lab');
const socketOf = (dir: string, node: string) => `unix://${join(dir, 'sockets', node, 'docker.sock')}`;
export const nodeTarget = (dir: string, node: string): DockerTarget => ({ host: socketOf(dir, node) });
export const managerTarget = (dir: string) => nodeTarget(dir, 'node1');

const host: DockerTarget = {};
const exists = (kind: 'container' | 'network' | 'volume' | 'image', name: string) =>
  succeeds(host, [kind, 'inspect', name]);

/** Built every time: the layer cache makes it a second when nothing changed. */
async function buildLabImage(tag: string, context: string, say: (m: string) => void): Promise<void> {
  if (!(await exists('image', tag))) say(`building ${tag}`);
  const base = process.env.TASKFLEET_BASE_IMAGE ?? 'debian:bookworm-slim';
  await run('deploy/images/base.sh', [base], { cwd: repoPath(), timeoutMs: 600_000 });
  await run('docker', ['build', '-q', '--build-arg', `BASE=${base}`, '-t', tag, context], {
    env: { ...process.env, DOCKER_BUILDKIT: '0' },
    timeoutMs: 600_000,
  });
}

async function portOf(container: string, inside: string): Promise<number> {
  const out = await docker(host, ['port', container, inside]);
  const m = /127\.0\.0\.1:(\d+)/.exec(out);
  if (!m) throw new Error(`${container} publishes no 127.0.0.1 port for ${inside}: ${out}`);
  return Number(m[1]);
}

async function startNode(dir: string, node: string, publish: string[]): Promise<void> {
  const name = `${LAB}-${node}`;
  if (await exists('container', name)) {
    await docker(host, ['start', name]);
    return;
  }
  mkdirSync(join(dir, 'sockets', node), { recursive: true });
  await docker(host, [
    'run',
    '-d',
    '--name',
    name,
    '--hostname',
    node,
    '--label',
    `${LAB}=node`,
    '--network',
    NETWORK,
    ...NODE_CAPS.flatMap((c) => ['--cap-add', c]),
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
    `${name}:/var/lib/docker`,
    '-v',
    `${join(dir, 'sockets', node)}:/run/lab`,
    '-e',
    `LAB_REGISTRY=${LAB_REGISTRY}`,
    ...publish.flatMap((p) => ['-p', `127.0.0.1::${p}`]),
    NODE_IMAGE,
  ]);
}

async function waitEngine(dir: string, node: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (!(await succeeds(nodeTarget(dir, node), ['info', '--format', '{{.ID}}']))) {
    if (Date.now() > deadline) {
      const logs = await docker(host, ['logs', '--tail', '20', `${LAB}-${node}`]).catch(() => '');
      throw new Error(`the engine of ${node} did not answer within 120 s\n${logs}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

const addressOf = async (container: string) =>
  (
    await docker(host, [
      'inspect',
      '-f',
      `{{(index .NetworkSettings.Networks "${NETWORK}").IPAddress}}`,
      container,
    ])
  ).trim();

async function formSwarm(dir: string, say: (m: string) => void): Promise<void> {
  const manager = managerTarget(dir);
  const state = (t: DockerTarget) =>
    docker(t, ['info', '--format', '{{.Swarm.LocalNodeState}}']).then((s) => s.trim());
  if ((await state(manager)) !== 'active') {
    say('swarm init on node1');
    await docker(manager, ['swarm', 'init', '--advertise-addr', await addressOf(MANAGER)]);
  }
  const token = (await docker(manager, ['swarm', 'join-token', '-q', 'worker'])).trim();
  const managerAddress = `${await addressOf(MANAGER)}:2377`;
  for (const node of NODES.slice(1)) {
    const target = nodeTarget(dir, node);
    if ((await state(target)) === 'active') continue;
    say(`${node} joins as a worker`);
    await docker(target, ['swarm', 'join', '--token', token, managerAddress]);
  }
  // Labels: node1 holds the data (Postgres ×3, PgBouncer, Redis, RabbitMQ, Prometheus), so losing a
  // worker never loses data; node1 and node2 are edge nodes (an nginx each, on their own ports; the
  // host reaches node1's); node3 runs only replicated services — the node the node-loss test takes away.
  // On VMs the Postgres nodes are separate (docs/deploy-swarm.md).
  const labels: Record<string, string[]> = {
    node1: [
      'taskfleet.data=true',
      'taskfleet.edge=true',
      'taskfleet.postgres-primary=true',
      'taskfleet.postgres-replica1=true',
      'taskfleet.postgres-replica2=true',
    ],
    node2: ['taskfleet.edge=true'],
    node3: [],
  };
  for (const [node, list] of Object.entries(labels))
    if (list.length > 0)
      await docker(manager, ['node', 'update', ...list.flatMap((l) => ['--label-add', l]), node]);
}

/** Tag and push every stack image to the lab registry (only changed layers travel). */
export async function pushImages(images: readonly string[], registryPort: number, say: (m: string) => void) {
  say(`pushing ${images.length} images to the lab registry`);
  const queue = [...images];
  const worker = async () => {
    for (let image = queue.shift(); image; image = queue.shift()) {
      const remote = `127.0.0.1:${registryPort}/${image}`;
      await docker(host, ['tag', image, remote]);
      await docker(host, ['push', '-q', remote], { timeoutMs: 600_000 });
    }
  };
  await Promise.all([worker(), worker()]);
}

export interface LabInfo {
  manager: string;
  dockerHost: string;
  edge: string;
  /**
   * The edge at node1's own address on the lab network, as a load balancer in front of the edge nodes
   * reaches it. The load tests use it: the published 127.0.0.1 port goes through Docker's userland
   * proxy, which died once under a flood of connections and took the lab's edge with it.
   */
  edgeDirect: string;
  edgeTls: string;
  prometheus: string;
  registry: string;
  secretsDir: string;
}

export async function labUp(opts: LabOptions): Promise<LabInfo> {
  const say = opts.progress ?? (() => {});
  const { dir } = opts;
  mkdirSync(dir, { recursive: true });
  const missingImages = [];
  for (const image of STACK_IMAGES) if (!(await exists('image', image))) missingImages.push(image);
  if (missingImages.length > 0) {
    say(`building the project's images (${missingImages.length} missing)`);
    await run('deploy/images/build.sh', ['--missing'], { cwd: repoPath(), timeoutMs: 45 * 60_000 });
  }
  await buildLabImage(NODE_IMAGE, repoPath('deploy/swarm/node'), say);
  await buildLabImage(REGISTRY_IMAGE, repoPath('deploy/swarm/registry'), say);

  // A lab made from another checkout answers on that checkout's sockets, not on ours: start afresh.
  if ((await exists('container', MANAGER)) && !(await labIsOurs(dir))) {
    say('the lab that is there was made from another checkout: removing it');
    await labDown({ dir, progress: say });
    mkdirSync(dir, { recursive: true });
  }
  if (!(await exists('network', NETWORK)))
    await docker(host, ['network', 'create', '--subnet', SUBNET, '--label', `${LAB}=network`, NETWORK]);
  if (!(await exists('container', REGISTRY))) {
    say('starting the lab registry');
    await docker(host, [
      'run',
      '-d',
      '--name',
      REGISTRY,
      '--label',
      `${LAB}=registry`,
      '--network',
      NETWORK,
      '--network-alias',
      'registry',
      '-v',
      `${REGISTRY}:/var/lib/docker-registry`,
      '-p',
      '127.0.0.1::5000',
      REGISTRY_IMAGE,
    ]);
  } else await docker(host, ['start', REGISTRY]);

  say('starting three Docker-in-Docker nodes');
  await Promise.all(NODES.map((n) => startNode(dir, n, n === 'node1' ? ['8080', '8443', '9090'] : [])));
  await Promise.all(NODES.map((n) => waitEngine(dir, n)));
  await formSwarm(dir, say);

  const registryPort = await portOf(REGISTRY, '5000');
  await pushImages(STACK_IMAGES, registryPort, say);
  const secretsDir = join(dir, 'secrets');
  await ensureSecrets(secretsDir);

  await deployStack({
    target: managerTarget(dir),
    stack: STACK,
    composeFiles: [STACK_FILE, repoPath('deploy/swarm/lab.yml')],
    secretsDir,
    registry: LAB_REGISTRY,
    registryFromHere: `127.0.0.1:${registryPort}`,
    insecureRegistry: true,
    resolveImage: 'never',
    env: LAB_ENV,
    progress: say,
  });
  const info = await labInfo(dir);
  writeFileSync(join(dir, 'lab.json'), `${JSON.stringify(info, null, 2)}\n`);
  return info;
}

/** Is there a lab, made with this state directory (its manager's socket is ours)? */
export async function labIsOurs(dir: string): Promise<boolean> {
  if (!(await exists('container', MANAGER))) return false;
  const mounted = await docker(host, [
    'inspect',
    '-f',
    '{{range .Mounts}}{{if eq .Destination "/run/lab"}}{{.Source}}{{end}}{{end}}',
    MANAGER,
  ]);
  return mounted.trim() === join(dir, 'sockets', 'node1');
}

export async function labInfo(dir: string): Promise<LabInfo> {
  return {
    manager: MANAGER,
    dockerHost: socketOf(dir, 'node1'),
    edge: `http://127.0.0.1:${await portOf(MANAGER, '8080')}`,
    edgeDirect: `http://${await addressOf(MANAGER)}:8080`,
    edgeTls: `https://127.0.0.1:${await portOf(MANAGER, '8443')}`,
    prometheus: `http://127.0.0.1:${await portOf(MANAGER, '9090')}`,
    registry: `127.0.0.1:${await portOf(REGISTRY, '5000')}`,
    secretsDir: join(dir, 'secrets'),
  };
}

export interface LabStatus extends Partial<LabInfo> {
  nodes: {
    name: string;
    container: string;
    role: string;
    state: string;
    availability: string;
    labels: string[];
  }[];
  services: { name: string; mode: string; replicas: string; image: string; converged: boolean }[];
}

export async function labStatus(dir: string): Promise<LabStatus | undefined> {
  if (!(await exists('container', MANAGER))) return undefined;
  const info = await labInfo(dir).catch(() => ({}));
  const manager = managerTarget(dir);
  const nodes = await docker(manager, [
    'node',
    'ls',
    '--format',
    '{{.Hostname}}\t{{.ManagerStatus}}\t{{.Status}}\t{{.Availability}}',
  ])
    .then((out) =>
      out
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const [name = '', managerStatus = '', state = '', availability = ''] = line.split('\t');
          return { name, managerStatus, state, availability };
        }),
    )
    .catch(() => []);
  const withLabels = await Promise.all(
    nodes.map(async (n) => {
      const labels = await docker(manager, ['node', 'inspect', '-f', '{{json .Spec.Labels}}', n.name])
        .then((j) =>
          Object.entries((JSON.parse(j) ?? {}) as Record<string, string>).map(([k, v]) => `${k}=${v}`),
        )
        .catch(() => []);
      return {
        name: n.name,
        container: `${LAB}-${n.name}`,
        role: n.managerStatus ? `manager (${n.managerStatus.toLowerCase()})` : 'worker',
        state: n.state.toLowerCase(),
        availability: n.availability.toLowerCase(),
        labels,
      };
    }),
  );
  const services = await stackServices(manager, STACK).catch(() => []);
  return { ...info, nodes: withLabels, services };
}

/** Remove every container, volume and network the lab made (by name), and its state directory. */
export async function labDown(opts: LabOptions): Promise<string[]> {
  const say = opts.progress ?? (() => {});
  const removed: string[] = [];
  const containers = (await docker(host, ['ps', '-aq', '--filter', `label=${LAB}`]))
    .split('\n')
    .filter(Boolean);
  if (containers.length > 0) {
    say(`removing ${containers.length} lab containers`);
    await docker(host, ['rm', '-f', '-v', ...containers], { timeoutMs: 300_000 });
    removed.push(...containers);
  }
  for (const volume of [...NODES.map((n) => `${LAB}-${n}`), REGISTRY]) {
    if (await exists('volume', volume)) {
      await docker(host, ['volume', 'rm', volume], { timeoutMs: 300_000 });
      removed.push(`volume ${volume}`);
    }
  }
  if (await exists('network', NETWORK)) {
    await docker(host, ['network', 'rm', NETWORK]);
    removed.push(`network ${NETWORK}`);
  }
  // The pushed tags on the host (127.0.0.1:PORT/taskfleet/…) point at the same layers: untag them.
  const tags = (await docker(host, ['images', '--format', '{{.Repository}}:{{.Tag}}']))
    .split('\n')
    .filter((t) => /^127\.0\.0\.1:\d+\/taskfleet\//.test(t));
  if (tags.length > 0) await docker(host, ['rmi', ...tags]).catch(() => '');
  if (existsSync(opts.dir)) rmSync(opts.dir, { recursive: true, force: true });
  return removed;
}

/** Containers, volumes and networks of the lab that exist (empty after `labDown`). */
export async function labLeftovers(): Promise<string[]> {
  const list = async (args: string[]) => (await docker(host, args)).split('\n').filter(Boolean);
  return [
    ...(await list(['ps', '-a', '--filter', `label=${LAB}`, '--format', 'container {{.Names}}'])),
    ...(await list(['volume', 'ls', '--filter', `name=${LAB}`, '--format', 'volume {{.Name}}'])),
    ...(await list(['network', 'ls', '--filter', `name=${LAB}`, '--format', 'network {{.Name}}'])),
  ];
}

/** The lab's recorded addresses, without asking Docker (for tests that already know it is up). */
export function readLabJson(dir: string): LabInfo | undefined {
  const path = join(dir, 'lab.json');
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as LabInfo) : undefined;
}
