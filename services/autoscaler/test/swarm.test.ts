// The Swarm driver against a real Swarm (a single-node Swarm in a Docker-in-Docker container of its
// own, swarm-node.ts): policies read from real service labels, a scale written with the version it
// read and changing nothing but the count, a concurrent change between read and write refused with
// nothing overwritten, a service mid-update left alone, a pass raising a service below its minimum
// (and a dry run only counting it), and a start refused with every problem listed. Skipped, saying
// why, without a Docker engine or the lab's node image.
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { testStack } from '@taskfleet/infra/vitest';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { SwarmDriver } from '../src/drivers/swarm.ts';
import { DEFAULT_POLICY } from '../src/policy.ts';
import type { SwarmNode } from './swarm-node.ts';
import {
  createService,
  imageExists,
  inspect,
  removeService,
  startSwarmNode,
  swarmSkipReason,
  updateService,
} from './swarm-node.ts';

const skip = await swarmSkipReason();
if (skip) process.stderr.write(`autoscaler swarm tests skipped: ${skip}\n`);
const IMAGE = 'taskfleet/autoscaler:0.1.0';
const noImage = skip || !(await imageExists(IMAGE));
if (!skip && noImage) process.stderr.write(`autoscaler image test skipped: no ${IMAGE} (make images)\n`);

const stack = testStack();
const prometheusUrl = () => {
  const { host, port } = stack.state.endpoints.prometheus;
  return `http://${host}:${port}`;
};

describe.skipIf(skip)('the Swarm driver on a real Swarm', () => {
  let node: SwarmNode;
  const created: string[] = [];
  beforeAll(async () => {
    node = await startSwarmNode();
  }, 300_000);
  afterAll(async () => {
    for (const id of created) await removeService(node.api, id).catch(() => undefined);
    await node?.stop();
  }, 120_000);

  const service = async (name: string, opts: Parameters<typeof createService>[2]) => {
    const id = await createService(node.api, name, opts);
    created.push(id);
    return id;
  };
  const driver = (only?: string[]) =>
    new SwarmDriver({ dockerHost: node.dockerHost, stackPrefix: 'taskfleet_', ...(only ? { only } : {}) });

  it('manages the services labelled taskfleet.autoscale=true, with the policy, job and limits they carry', async () => {
    await service('taskfleet_api', {
      replicas: 1,
      labels: {
        'taskfleet.autoscale': 'true',
        'taskfleet.autoscale.min': '2',
        'taskfleet.autoscale.max': '6',
        'taskfleet.autoscale.up-period': '30s',
        'taskfleet.autoscale.target-cpu': '60%',
        'taskfleet.autoscale.down-cooldown': '15m',
      },
      limits: { NanoCPUs: 500_000_000, MemoryBytes: 256 * 2 ** 20 },
    });
    await service('taskfleet_reports', {
      replicas: 1,
      labels: { 'taskfleet.autoscale': 'true', 'taskfleet.autoscale.job': 'report-jobs' },
    });
    await service('taskfleet_off', { replicas: 1, labels: { 'taskfleet.autoscale': 'false' } });
    await service('taskfleet_unlabelled', { replicas: 1, labels: {} });

    const d = driver(['api', 'taskfleet_reports']);
    try {
      const { services, problems } = await d.list();
      expect(problems).toEqual([]);
      expect(services.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
        {
          name: 'taskfleet_api',
          job: 'api',
          replicas: 1,
          updating: false,
          policy: {
            ...DEFAULT_POLICY,
            min: 2,
            max: 6,
            upPeriodMs: 30_000,
            targetCpu: 0.6,
            downCooldownMs: 900_000,
          },
          cpuLimit: 0.5,
          memoryLimit: 256 * 2 ** 20,
        },
        {
          name: 'taskfleet_reports',
          job: 'report-jobs',
          replicas: 1,
          updating: false,
          policy: DEFAULT_POLICY,
        },
      ]);
      // Without a filter: every labelled service, the ones set to false or unlabelled left out.
      const all = (await driver().list()).services.map((s) => s.name);
      expect(all).toContain('taskfleet_api');
      expect(all).not.toContain('taskfleet_off');
      expect(all).not.toContain('taskfleet_unlabelled');
    } finally {
      await d.close();
    }
  });

  it('scales with the version it read, changing nothing but the count', async () => {
    const id = await service('taskfleet_scaled', { replicas: 1, labels: { 'taskfleet.autoscale': 'true' } });
    const before = await inspect(node.api, id);
    const d = driver(['scaled']);
    try {
      const [s] = (await d.list()).services;
      expect(await d.scale(s!, 3)).toEqual({ ok: true });
      const after = await inspect(node.api, id);
      expect(after.Spec.Mode.Replicated.Replicas).toBe(3);
      expect(after.Version.Index).toBeGreaterThan(before.Version.Index);
      expect({ ...after.Spec, Mode: undefined }).toEqual({ ...before.Spec, Mode: undefined });
    } finally {
      await d.close();
    }
  });

  it('refuses when someone changed the service between its read and its write, and overwrites nothing', async () => {
    const id = await service('taskfleet_contended', {
      replicas: 1,
      labels: { 'taskfleet.autoscale': 'true' },
    });
    const d = driver(['contended']);
    try {
      const [s] = (await d.list()).services;
      // A deploy lands in between: a new environment (and so a new version).
      await updateService(node.api, id, (spec) => {
        spec.TaskTemplate.ContainerSpec.Env = ['GENERATION=2'];
        return spec;
      });
      const result = await d.scale(s!, 3);
      expect(result).toMatchObject({ ok: false, reason: 'conflict' });
      const after = await inspect(node.api, id);
      expect(after.Spec.Mode.Replicated.Replicas).toBe(1);
      expect(after.Spec.TaskTemplate.ContainerSpec.Env).toEqual(['GENERATION=2']);
      // Read again, it scales.
      const [fresh] = (await d.list()).services;
      expect(await d.scale(fresh!, 3)).toEqual({ ok: true });
      expect((await inspect(node.api, id)).Spec.TaskTemplate.ContainerSpec.Env).toEqual(['GENERATION=2']);
    } finally {
      await d.close();
    }
  });

  const app = async (env: Record<string, string>): Promise<FastifyInstance> => {
    const a = await buildApp(
      loadConfig({
        PROMETHEUS_URL: prometheusUrl(),
        DOCKER_HOST: node.dockerHost,
        LOG_LEVEL: 'silent',
        ...env,
      }),
    );
    await a.ready();
    return a;
  };

  it('leaves a service that is mid-update alone', async () => {
    const id = await service('taskfleet_rolling', {
      replicas: 2,
      labels: { 'taskfleet.autoscale': 'true', 'taskfleet.autoscale.min': '4' },
    });
    // One task replaced, then an hour's wait before the next: updating for the rest of the test.
    await updateService(node.api, id, (spec) => {
      spec.TaskTemplate.ContainerSpec.Env = ['GENERATION=2'];
      spec.UpdateConfig = { ...spec.UpdateConfig, Parallelism: 1, Delay: 3_600 * 1e9 };
      return spec;
    });
    await until(
      'the update to start',
      async () => (await inspect(node.api, id)).UpdateStatus?.State === 'updating',
    );
    const a = await app({ AUTOSCALER_SERVICES: 'rolling' });
    try {
      const report = await a.autoscalePass();
      // Below its minimum of 4, but mid-update: held.
      expect(report.decisions).toEqual([
        { service: 'taskfleet_rolling', action: 'hold', from: 2, to: 2, reason: 'updating', applied: false },
      ]);
      expect((await inspect(node.api, id)).Spec.Mode.Replicated.Replicas).toBe(2);
    } finally {
      await a.close();
    }
  });

  it('raises a service below its minimum in a pass; a dry run only counts it', async () => {
    const id = await service('taskfleet_floor', {
      replicas: 1,
      labels: { 'taskfleet.autoscale': 'true', 'taskfleet.autoscale.min': '2' },
    });
    const dry = await app({ AUTOSCALER_SERVICES: 'floor', AUTOSCALER_DRY_RUN: 'true' });
    try {
      const report = await dry.autoscalePass();
      expect(report.decisions).toEqual([
        { service: 'taskfleet_floor', action: 'up', from: 1, to: 2, reason: 'below-minimum', applied: false },
      ]);
      expect((await inspect(node.api, id)).Spec.Mode.Replicated.Replicas).toBe(1);
      const metrics = (await dry.inject('/metrics')).body;
      expect(metrics).toContain(
        'autoscaler_decisions_total{service="taskfleet_floor",action="up",reason="below-minimum",dry_run="true"} 1',
      );
      expect(metrics).toContain('autoscaler_replicas{service="taskfleet_floor",kind="desired"} 2');
    } finally {
      await dry.close();
    }
    const live = await app({ AUTOSCALER_SERVICES: 'floor' });
    try {
      const report = await live.autoscalePass();
      expect(report.decisions[0]).toMatchObject({ action: 'up', to: 2, applied: true });
      expect((await inspect(node.api, id)).Spec.Mode.Replicated.Replicas).toBe(2);
      // The next pass sees its own count, not a person's.
      expect((await live.autoscalePass()).decisions[0]?.reason).not.toBe('manual-scale');
      expect((await live.inject('/health/ready')).statusCode).toBe(200);
    } finally {
      await live.close();
    }
  });

  it('notices a count set by someone else and adopts it', async () => {
    const id = await service('taskfleet_manual', { replicas: 3, labels: { 'taskfleet.autoscale': 'true' } });
    const a = await app({ AUTOSCALER_SERVICES: 'manual' });
    try {
      expect((await a.autoscalePass()).decisions[0]?.reason).not.toBe('manual-scale');
      await updateService(node.api, id, (spec) => {
        spec.Mode.Replicated.Replicas = 5;
        return spec;
      });
      expect((await a.autoscalePass()).decisions[0]).toMatchObject({
        action: 'hold',
        reason: 'manual-scale',
        to: 5,
      });
      // Adopted: held for the cooldown, not scaled back.
      expect((await a.autoscalePass()).decisions[0]).toMatchObject({ action: 'hold', from: 5 });
      expect((await inspect(node.api, id)).Spec.Mode.Replicated.Replicas).toBe(5);
    } finally {
      await a.close();
    }
  });

  // The service definition docs/autoscaler.md recommends for deploy/swarm/stack.yml: one replica on a
  // manager, the engine's socket mounted, as root (the socket is root's; the image's user is not). The
  // image as last built (make images; `make test` builds it in its container run, after this one).
  it.skipIf(noImage)(
    'runs from its image as a Swarm service on the manager and scales through the socket',
    async () => {
      await node.load(IMAGE);
      const id = await service('taskfleet_lifted', {
        replicas: 1,
        labels: { 'taskfleet.autoscale': 'true', 'taskfleet.autoscale.min': '2' },
      });
      const autoscalerId = await node.api.post<{ ID: string }>('/services/create', {
        Name: 'taskfleet_autoscaler',
        TaskTemplate: {
          ContainerSpec: {
            Image: IMAGE,
            User: 'root',
            Env: [
              // Nothing listens there: every load-driven decision holds, the minimum is still kept.
              'PROMETHEUS_URL=http://127.0.0.1:9',
              'AUTOSCALER_SERVICES=lifted',
              'AUTOSCALER_INTERVAL=2s',
            ],
            Mounts: [{ Type: 'bind', Source: '/var/run/docker.sock', Target: '/var/run/docker.sock' }],
            StopGracePeriod: 5_000_000_000,
          },
          Placement: { Constraints: ['node.role == manager'] },
        },
        Mode: { Replicated: { Replicas: 1 } },
      });
      created.push(autoscalerId.ID);
      await until(
        'the autoscaler service to raise taskfleet_lifted to its minimum',
        async () => (await inspect(node.api, id)).Spec.Mode.Replicated.Replicas === 2,
        120_000,
      );
    },
  );

  it('runs as a process: ready once a pass completed, and SIGTERM ends it cleanly', async () => {
    await service('taskfleet_steady', { replicas: 3, labels: { 'taskfleet.autoscale': 'true' } });
    const port = await freePort();
    const child = spawn(
      process.execPath,
      ['--conditions=@taskfleet/source', new URL('../src/server.ts', import.meta.url).pathname],
      {
        env: {
          PATH: process.env.PATH,
          PROMETHEUS_URL: prometheusUrl(),
          DOCKER_HOST: node.dockerHost,
          AUTOSCALER_SERVICES: 'steady',
          AUTOSCALER_INTERVAL: '1s',
          PORT: String(port),
          LOG_LEVEL: 'info',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (c) => {
      output += c;
    });
    child.stderr.on('data', (c) => {
      output += c;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await until('readiness after a pass', async () => {
        const res = await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => undefined);
        return res?.status === 200;
      });
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(output).toContain('autoscaler: managing 1 services');
      expect(output).toContain('shutting down');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('refuses to start, exit 2, listing every service it could not manage and why', async () => {
    await service('taskfleet_bad1', {
      replicas: 1,
      labels: {
        'taskfleet.autoscale': 'true',
        'taskfleet.autoscale.min': 'three',
        'taskfleet.autoscale.up-period': '60',
      },
    });
    await service('taskfleet_bad2', {
      replicas: 1,
      labels: {
        'taskfleet.autoscale': 'true',
        'taskfleet.autoscale.min': '9',
        'taskfleet.autoscale.max': '2',
      },
    });
    const { code, stderr } = await runServer({
      PROMETHEUS_URL: prometheusUrl(),
      DOCKER_HOST: node.dockerHost,
      AUTOSCALER_SERVICES: 'bad1,bad2,ghost',
      PORT: '0',
    });
    expect(code).toBe(2);
    expect(stderr).toContain('taskfleet_bad1: taskfleet.autoscale.min: "three" is not a whole number');
    expect(stderr).toContain('taskfleet_bad1: taskfleet.autoscale.up-period: "60" is not a duration');
    expect(stderr).toContain('taskfleet_bad2: min 9 is above max 2');
    expect(stderr).toContain('ghost: named in AUTOSCALER_SERVICES, but no service labelled');
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The autoscaler as a process (its server.ts), until it exits. */
function runServer(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=@taskfleet/source', new URL('../src/server.ts', import.meta.url).pathname],
      { env: { PATH: process.env.PATH, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (c) => {
      stderr += c;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}
