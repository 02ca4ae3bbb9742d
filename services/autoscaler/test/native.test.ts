// The native driver on a real native stack of this file's own (every service a real process, one replica
// each, nginx in front, its own Prometheus): the autoscaler, through the stack runner's scaling, raises
// tasks to its minimum (a second task replica started and announced), scales the gateways up on their
// measured request rate (nginx follows), and adopts a count set by hand.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StackState } from '@taskfleet/infra';
import {
  guardStack,
  listReplicas,
  scaleService,
  startStack,
  stopStack,
  TEST_STACK_PREFIX,
  upstreamsFile,
} from '@taskfleet/infra';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';

let dir = '';
let state: StackState;
let load: NodeJS.Timeout | undefined;
beforeAll(async () => {
  // Named like the harness's stacks, so the end-of-run leftover check covers this one too.
  dir = mkdtempSync(join(tmpdir(), `${TEST_STACK_PREFIX}autoscaler-`));
  guardStack(dir, process.pid, join(dir, 'watchdog.log'));
  state = await startStack({
    dir,
    ports: 'free',
    services: true,
    replicas: 1,
    durability: 'fast',
    ownerPid: process.pid,
    // A light steady load of unauthenticated reads (401s: counted requests all the same); no limit
    // may answer it with 429.
    edgeLimits: { rate: '2000r/s', burst: 4000, connections: 1024 },
  });
}, 15 * 60_000);
afterAll(async () => {
  clearInterval(load);
  if (!dir) return;
  await stopStack(dir);
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 180_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

async function autoscaler(policy: string): Promise<FastifyInstance> {
  const { host, port } = state.endpoints.prometheus;
  const app = await buildApp(
    loadConfig({
      PROMETHEUS_URL: `http://${host}:${port}`,
      AUTOSCALER_DRIVER: 'native',
      TASKFLEET_STACK_DIR: dir,
      AUTOSCALER_NATIVE_POLICY: policy,
      AUTOSCALER_RATE_WINDOW: '30s',
      LOG_LEVEL: 'silent',
    }),
  );
  await app.ready();
  return app;
}

describe('the native driver on a real native stack', () => {
  it('raises tasks to its minimum through the stack runner: a replica started and announced', async () => {
    const app = await autoscaler('tasks: min=2 max=3; gateway: min=1 max=2');
    try {
      const report = await app.autoscalePass();
      expect(report.decisions.find((d) => d.service === 'tasks')).toEqual({
        service: 'tasks',
        action: 'up',
        from: 1,
        to: 2,
        reason: 'below-minimum',
        applied: true,
      });
      expect(listReplicas(dir, 'tasks').map((r) => r.alive)).toEqual([true, true]);
      // The gateways' list of task replicas names both.
      expect(readFileSync(upstreamsFile(dir, 'tasks'), 'utf8').match(/^http:/gm)).toHaveLength(2);
      // Its own count next time: no manual scale seen.
      const next = await app.autoscalePass();
      expect(next.decisions.find((d) => d.service === 'tasks')?.reason).not.toBe('manual-scale');
    } finally {
      await app.close();
    }
  });

  it('scales the gateways up on their request rate, held over the (here zero) period', async () => {
    const edge = `http://${state.endpoints.nginx.host}:${state.endpoints.nginx.httpPort}`;
    // ≈10 requests a second through nginx to the one gateway.
    load = setInterval(
      () =>
        void fetch(`${edge}/v1/tasks`).then(
          (r) => r.body?.cancel(),
          () => undefined,
        ),
      100,
    );
    // A target of 1 req/s per replica: ≈10 req/s on one gateway is ≈10 × the target.
    const app = await autoscaler('tasks: min=2 max=3; gateway: min=1 max=2 target-rps=1 up-period=0s');
    try {
      const up = await until('a pass that scales the gateways on their load', async () => {
        const r = await app.autoscalePass();
        const d = r.decisions.find((x) => x.service === 'gateway');
        return d?.action === 'up' ? d : undefined;
      });
      expect(up).toMatchObject({ from: 1, to: 2, reason: 'above-threshold', applied: true });
      expect(listReplicas(dir, 'gateway')).toHaveLength(2);
      const metrics = (await app.inject('/metrics')).body;
      // Above the up threshold (0.8 of the target) — how far above depends on how busy the machine is.
      const rps = /^autoscaler_load\{service="gateway",signal="rps"\} (\S+)/m.exec(metrics)?.[1];
      expect(Number(rps)).toBeGreaterThan(0.8);
    } finally {
      clearInterval(load);
      await app.close();
    }
  });

  it('adopts a count set by hand (make scale) and holds it', async () => {
    const app = await autoscaler('tasks: min=2 max=3; gateway: min=1 max=2');
    try {
      await app.autoscalePass();
      await scaleService(dir, 'tasks', 3);
      const report = await app.autoscalePass();
      expect(report.decisions.find((d) => d.service === 'tasks')).toMatchObject({
        action: 'hold',
        reason: 'manual-scale',
        to: 3,
      });
      expect(listReplicas(dir, 'tasks')).toHaveLength(3);
    } finally {
      await app.close();
    }
  });
});
