// What the end-to-end suite (e2e-suite.ts) runs against: a stack reached through nginx, and the faults
// it can inflict on it. Two implementations — the native stack (native-target.ts: processes, faults by
// signal) and docker-compose.yml (here: containers, faults through the engine) — so one suite proves
// both runtimes.
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  type ComposeProject,
  type ContainerStatus,
  compose,
  containerName as containerNameOf,
  freePorts,
  projectContainers,
  publishedPort,
  REPO_ROOT,
  waitFor,
  waitHealthy,
} from '@taskfleet/infra';
import { afterAll, beforeAll } from 'vitest';

const exec = promisify(execFile);

export type Replicated = 'gateway' | 'tasks' | 'users';
export type Server = 'redis' | 'rabbitmq';

export interface E2eTarget {
  runtime: 'native' | 'docker';
  /** False where this runtime can't run here (no Docker engine; a native stack under containers). */
  available: boolean;
  /** nginx over plain HTTP, and over TLS with the CA to trust. */
  edge(): string;
  https(): { base: string; ca: Buffer };
  /** The /metrics text of every gateway replica, read directly (not through nginx). */
  gatewayMetrics(): Promise<string[]>;
  /** The stack's Prometheus (its HTTP API): exporters and synthetic probes. */
  prometheus(): string;
  /** SIGKILL the replica's process, as a crash or the OOM killer would. */
  crash(service: Replicated, index: number): Promise<void>;
  /** Resolves when every replica of the stack is running and ready again (after crashes). */
  whole(): Promise<void>;
  /** Take a server away; the returned function brings it back (and waits until it serves). */
  outage(server: Server): Promise<() => Promise<void>>;
  /** How this runtime takes a server away (for the test names). */
  outageKind: string;
}

const secret = () => crypto.randomUUID().replaceAll('-', '');

/**
 * docker-compose.yml as `make up` runs it (the same images, compose command and health wait), as a
 * project of the test's own on free 127.0.0.1 ports, with fresh secrets and a test certificate; removed
 * with its volumes afterwards. `make test` builds the images first (test/containers/setup.ts).
 */
export function composeTarget(opts: { tag: string; engine: boolean }): E2eTarget & {
  project: ComposeProject;
  containers(): Promise<ContainerStatus[]>;
  /** `docker exec` in a container of the project (by compose service and replica number). */
  /** The /metrics text of one replica, read inside its container (services publish no port). */
  metricsOf(service: string, index: number): Promise<string>;
  containerName(service: string, index: number): Promise<string>;
} {
  const name = `tf-${opts.tag}-${process.pid}`;
  const project: ComposeProject = {
    name,
    files: ['docker-compose.yml', 'deploy/compose/docker-compose.test.yml'],
    env: {},
  };
  /** Containers crashed by crash(), with their restart count before. */
  const crashed = new Map<string, number>();
  let tlsDir = '';
  let edge = '';
  let httpsBase = '';
  const containerName = (service: string, index: number) => containerNameOf(name, service, index);
  /** A container of the project, as `docker inspect` has it now. */
  const status = async (service: string, index: number) =>
    (await projectContainers(name)).find((c) => c.service === service && c.index === index);

  const target = {
    runtime: 'docker' as const,
    available: opts.engine,
    project,
    containerName,
    edge: () => edge,
    https: () => ({ base: httpsBase, ca: readFileSync(join(tlsDir, 'tls.crt')) }),
    containers: () => projectContainers(name),
    prometheus: () => `http://127.0.0.1:${project.env?.PROMETHEUS_PORT}`,
    async metricsOf(service: string, index: number) {
      const script =
        "fetch('http://127.0.0.1:3000/metrics').then(r=>r.text()).then(t=>process.stdout.write(t))";
      const c = await containerName(service, index);
      return (await exec('docker', ['exec', c, 'node', '-e', script], { maxBuffer: 8 << 20 })).stdout;
    },
    async gatewayMetrics() {
      const gateways = (await projectContainers(name)).filter(
        (c) => c.service === 'gateway' && c.state === 'running',
      );
      return Promise.all(gateways.map((c) => target.metricsOf('gateway', c.index)));
    },
    async crash(service: Replicated, index: number) {
      // Not `docker kill`: the engine counts that as a manual stop and its restart policy leaves the
      // container stopped. Killing the container's process is what a crash looks like to the engine.
      const c = await containerName(service, index);
      const [pid, restarts] = (
        await exec('docker', ['inspect', '-f', '{{.State.Pid}} {{.RestartCount}}', c])
      ).stdout
        .trim()
        .split(' ')
        .map(Number);
      if (!(pid! > 0)) throw new Error(`${c} has no process`);
      crashed.set(c, restarts!);
      process.kill(pid!, 'SIGKILL');
    },
    async whole() {
      // Every crashed container restarted by the engine (its restart count went up), then all healthy.
      for (const [c, before] of crashed) {
        await waitFor(
          `${c} restarted by its restart policy`,
          async () => (await projectContainers(name)).find((x) => x.name === c && x.restarts > before),
          { timeoutMs: 120_000, intervalMs: 500 },
        );
      }
      crashed.clear();
      await waitHealthy(name, { timeoutMs: 120_000 });
    },
    outageKind: 'stopped (docker stop) and started (docker start)',
    async outage(server: Server) {
      const c = await containerName(server, 1);
      await exec('docker', ['stop', '-t', '10', c]);
      return async () => {
        await exec('docker', ['start', c]);
        await waitFor(`${c} healthy`, async () => (await status(server, 1))?.health === 'healthy', {
          timeoutMs: 120_000,
          intervalMs: 500,
        });
      };
    },
  };

  beforeAll(async () => {
    if (!target.available) return;
    tlsDir = mkdtempSync(join(tmpdir(), `${name}-tls-`));
    chmodSync(tlsDir, 0o755); // nginx (www-data) must reach the files; the key itself is 0640
    await exec(join(REPO_ROOT, 'nginx/self-signed-cert.sh'), [tlsDir]);
    // nginx runs as www-data (gid 33) in its image; a test key, in a folder of its own.
    await exec('chgrp', ['33', join(tlsDir, 'tls.key')]).catch(() =>
      exec('chmod', ['644', join(tlsDir, 'tls.key')]),
    );
    await exec('chmod', ['g+r', join(tlsDir, 'tls.key')]);
    const [http, https, rabbit, prom, alert] = await freePorts(5);
    project.env = {
      POSTGRES_PASSWORD: secret(),
      TASKFLEET_DB_PASSWORD: secret(),
      REPLICATION_PASSWORD: secret(),
      RABBITMQ_USER: 'taskfleet',
      RABBITMQ_PASSWORD: secret(),
      GRAFANA_ADMIN_PASSWORD: secret(),
      TASKFLEET_SIGNING_KEYS: await signingKeys(),
      TASKFLEET_TLS_DIR: tlsDir,
      TASKFLEET_HTTP_ADDR: '127.0.0.1',
      TASKFLEET_HTTP_PORT: String(http),
      TASKFLEET_HTTPS_PORT: String(https),
      RABBITMQ_UI_PORT: String(rabbit),
      PROMETHEUS_PORT: String(prom),
      ALERTMANAGER_PORT: String(alert),
    };
    await compose(project, ['up', '-d'], { quiet: true });
    const containers = await waitHealthy(name, { timeoutMs: 10 * 60_000 });
    const nginx = containers.find((c) => c.service === 'nginx')!;
    edge = `http://127.0.0.1:${publishedPort(nginx, '8080/tcp')}`;
    httpsBase = `https://localhost:${publishedPort(nginx, '8443/tcp')}`;
  }, 12 * 60_000);
  afterAll(async () => {
    if (!target.available) return;
    await compose(project, ['down', '-v', '--remove-orphans', '-t', '10'], { quiet: true });
    rmSync(tlsDir, { recursive: true, force: true });
  }, 120_000);
  return target;
}

/** A private Ed25519 JWK set for the users service, as scripts/ensure-env.sh makes one. */
async function signingKeys(): Promise<string> {
  const { generateKeyPairSync, randomUUID } = await import('node:crypto');
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
  return JSON.stringify({ keys: [{ ...jwk, kid: randomUUID() }] });
}
