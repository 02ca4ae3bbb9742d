// The Prometheus side against the test stack's real Prometheus: a service process of our own (the shared
// service defaults, so the same metrics every service exports) is added to its targets under a job of
// this test's, loaded with requests, and read back per replica; a pass scales on that load. Then
// Prometheus away — a port nobody listens on, a server that never answers — holds every service and
// says so (autoscaler_prometheus_up 0, readiness degraded but ready). The orchestrator here is the
// native driver over an in-memory replica count: what is under test is the reading and the deciding.
import { rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { testStack } from '@taskfleet/infra/vitest';
import { commonErrors, serviceDefaults, serviceOptions } from '@taskfleet/service';
import type { FastifyInstance } from 'fastify';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { NativeDriver } from '../src/drivers/native.ts';
import { PrometheusReader, PrometheusUnavailable } from '../src/prometheus.ts';

const stack = testStack();
const { host, port } = stack.state.endpoints.prometheus;
const PROMETHEUS = `http://${host}:${port}`;
const JOB = `autoscaler-test-${process.pid}-${stack.worker}`;
const targetsFile = join(stack.state.dir, 'prometheus', 'targets', 'services', `${JOB}.json`);

let target: FastifyInstance;
let load: NodeJS.Timeout | undefined;
beforeAll(async () => {
  target = Fastify(serviceOptions({}));
  await target.register(serviceDefaults, { errors: commonErrors('LOADTEST') });
  target.get('/work', async () => ({ ok: true }));
  await target.listen({ host: '127.0.0.1', port: 0 });
  const { port: targetPort } = target.server.address() as AddressInfo;
  // File discovery: Prometheus picks the new target up without a reload.
  writeFileSync(
    targetsFile,
    JSON.stringify([{ labels: { job: JOB }, targets: [`127.0.0.1:${targetPort}`] }]),
  );
  // About 20 requests a second for as long as the file runs.
  load = setInterval(() => void target.inject('/work').catch(() => undefined), 50);
});
afterAll(async () => {
  clearInterval(load);
  rmSync(targetsFile, { force: true });
  await target?.close();
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The native driver over a replica count held here (the native stack runner is not under test). */
function memoryStack(counts: Record<string, number>) {
  const calls: [string, number][] = [];
  return {
    calls,
    stack: {
      replicas: async () => ({ ...counts }),
      busy: async () => false,
      scale: async (service: string, n: number) => {
        calls.push([service, n]);
        counts[service] = n;
      },
    },
  };
}

async function autoscaler(env: Record<string, string>, counts: Record<string, number>) {
  const memory = memoryStack(counts);
  const config = loadConfig({
    PROMETHEUS_URL: PROMETHEUS,
    AUTOSCALER_DRIVER: 'native',
    AUTOSCALER_SERVICES: 'tasks',
    LOG_LEVEL: 'silent',
    ...env,
  });
  const driver = new NativeDriver({
    stackDir: '.',
    policies: config.AUTOSCALER_NATIVE_POLICY,
    only: config.services,
    stack: memory.stack,
  });
  const app = await buildApp(config, { driver });
  await app.ready();
  return { app, calls: memory.calls };
}

const metric = (text: string, line: string) => text.split('\n').find((l) => l.startsWith(line));

describe('reading Prometheus', () => {
  it('reads replicas up, CPU, resident memory and requests per second of a job', async () => {
    const reader = new PrometheusReader(PROMETHEUS, 5_000, '30s');
    const sample = await until('Prometheus to have two scrapes of the load', async () => {
      const s = (await reader.read([JOB, 'no-such-job'])).get(JOB);
      return s && s.rps !== undefined && s.rps > 5 && s.cpu !== undefined ? s : undefined;
    });
    expect(sample.up).toBe(1);
    // ≈20 req/s (scrapes and probes are not counted); a busy machine makes it less regular.
    expect(sample.rps).toBeGreaterThan(5);
    expect(sample.rps).toBeLessThan(40);
    expect(sample.cpu).toBeGreaterThan(0);
    expect(sample.cpu).toBeLessThan(2);
    // This test process's resident memory: tens to hundreds of MB.
    expect(sample.memory).toBeGreaterThan(10 * 2 ** 20);
    expect((await reader.read(['no-such-job'])).size).toBe(0);
  });

  it('scales on that load in a pass: above the threshold for the (here zero) period', async () => {
    // A target of 2 req/s per replica: ≈20 req/s on one replica is ≈10 × the target.
    const { app, calls } = await autoscaler(
      {
        AUTOSCALER_RATE_WINDOW: '30s',
        AUTOSCALER_NATIVE_POLICY: `tasks: job=${JOB} min=1 max=4 target-rps=2 up-period=0s`,
      },
      { tasks: 1 },
    );
    try {
      const report = await until('a pass that sees the load', async () => {
        const r = await app.autoscalePass();
        return r.decisions[0]?.reason === 'no-data' ? undefined : r;
      });
      expect(report.prometheusUp).toBe(true);
      expect(report.decisions).toEqual([
        { service: 'tasks', action: 'up', from: 1, to: 3, reason: 'above-threshold', applied: true },
      ]);
      expect(calls).toEqual([['tasks', 3]]);
      const text = (await app.inject('/metrics')).body;
      expect(metric(text, 'autoscaler_prometheus_up')).toBe('autoscaler_prometheus_up 1');
      expect(text).toContain(
        'autoscaler_decisions_total{service="tasks",action="up",reason="above-threshold",dry_run="false"} 1',
      );
      expect(
        Number(metric(text, 'autoscaler_load{service="tasks",signal="rps"}')?.split(' ')[1]),
      ).toBeGreaterThan(1);
      expect(text).toMatch(/^autoscaler_load\{service="tasks",signal="cpu"\} [\d.e-]+$/m);
      expect(text).toContain('autoscaler_replicas{service="tasks",kind="desired"} 3');
      // Then the cooldown: still high, held.
      expect((await app.autoscalePass()).decisions[0]).toMatchObject({ action: 'hold', reason: 'cooldown' });
    } finally {
      await app.close();
    }
  });

  it('a scale refused as a conflict changes nothing, is counted, and the next pass reads afresh', async () => {
    const counts: Record<string, number> = { tasks: 1 };
    let reads = 0;
    const scaled: number[] = [];
    const config = loadConfig({
      PROMETHEUS_URL: PROMETHEUS,
      AUTOSCALER_DRIVER: 'native',
      AUTOSCALER_SERVICES: 'tasks',
      AUTOSCALER_RATE_WINDOW: '30s',
      AUTOSCALER_NATIVE_POLICY: `tasks: job=${JOB} min=1 max=4 target-rps=2 up-period=0s`,
      LOG_LEVEL: 'silent',
    });
    const driver = new NativeDriver({
      stackDir: '.',
      policies: config.AUTOSCALER_NATIVE_POLICY,
      only: config.services,
      stack: {
        // Someone scales to 2 right after the first pass's listing: reads are the start-up check's
        // listing, the pass's listing, then the driver's own read just before it scales.
        replicas: async () => {
          if (++reads === 3) counts.tasks = 2;
          return { ...counts };
        },
        busy: async () => false,
        scale: async (_s, n) => void scaled.push(n),
      },
    });
    const app = await buildApp(config, { driver });
    await app.ready();
    try {
      const report = await until('a pass that decides on the load', async () => {
        const r = await app.autoscalePass();
        return r.decisions[0]?.reason === 'no-data' ? undefined : r;
      });
      expect(report.decisions[0]).toMatchObject({ action: 'up', from: 1, to: 3, applied: false });
      expect(report.decisions[0]?.error).toMatch(/^conflict: 1 when listed, 2 now/);
      expect(scaled).toEqual([]);
      const text = (await app.inject('/metrics')).body;
      expect(text).toContain('autoscaler_scale_errors_total{service="tasks",reason="conflict"} 1');
      expect(text).toContain('autoscaler_replicas{service="tasks",kind="desired"} 1');
      // Read again: the person's 2, adopted — not the refused write tried once more.
      expect((await app.autoscalePass()).decisions[0]).toMatchObject({
        action: 'hold',
        reason: 'manual-scale',
        to: 2,
      });
      expect(scaled).toEqual([]);
    } finally {
      await app.close();
    }
  });
});

describe('Prometheus away', () => {
  const expectHeld = async (prometheusUrl: string) => {
    const { app, calls } = await autoscaler(
      {
        PROMETHEUS_URL: prometheusUrl,
        PROMETHEUS_TIMEOUT: '1s',
        AUTOSCALER_NATIVE_POLICY: `tasks: job=${JOB} min=1 max=4 target-rps=2 up-period=0s`,
      },
      { tasks: 1 },
    );
    try {
      // A Prometheus that never answers ends the pass through the query timeout (1 s), not the test's.
      const report = await app.autoscalePass();
      expect(report.prometheusUp).toBe(false);
      expect(report.decisions).toEqual([
        { service: 'tasks', action: 'hold', from: 1, to: 1, reason: 'no-data', applied: false },
      ]);
      expect(calls).toEqual([]);
      const text = (await app.inject('/metrics')).body;
      expect(metric(text, 'autoscaler_prometheus_up')).toBe('autoscaler_prometheus_up 0');
      expect(text).toContain(
        'autoscaler_decisions_total{service="tasks",action="hold",reason="no-data",dry_run="false"} 1',
      );
      // The pass completed (holding is the right thing to do): ready, and Prometheus shown degraded.
      const ready = await app.inject('/health/ready');
      expect(ready.statusCode).toBe(200);
      expect(ready.json().checks.prometheus).toMatch(/^degraded: unreachable/);
    } finally {
      await app.close();
    }
  };

  it('holds every service when nothing listens where Prometheus should be', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const { port: free } = closed.address() as AddressInfo;
    await new Promise((r) => closed.close(r));
    await expectHeld(`http://127.0.0.1:${free}`);
  });

  it('holds every service when Prometheus accepts but never answers (the query timeout)', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => void sockets.add(socket));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      await expectHeld(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('says what failed', async () => {
    await expect(new PrometheusReader(PROMETHEUS, 5_000, '1m').query('sum(')).rejects.toThrow(
      PrometheusUnavailable,
    );
  });
});

describe('the loop', () => {
  it('passes every interval once listening, and is ready once a pass completed', async () => {
    const { app } = await autoscaler(
      { AUTOSCALER_INTERVAL: '1s', AUTOSCALER_NATIVE_POLICY: `tasks: job=${JOB}` },
      { tasks: 3 },
    );
    try {
      expect((await app.inject('/health/ready')).statusCode).toBe(503);
      await app.listen({ host: '127.0.0.1', port: 0 });
      await until('two passes', async () => {
        const text = (await app.inject('/metrics')).body;
        return (
          Number(metric(text, 'autoscaler_passes_total{outcome="ok"}')?.split(' ')[1] ?? 0) >= 2 || undefined
        );
      });
      expect((await app.inject('/health/ready')).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });
});
