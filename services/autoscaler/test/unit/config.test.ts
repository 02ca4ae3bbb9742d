// The configuration: defaults, and every bad variable reported at once (a ConfigError: exit 2).

import {
  autoscalerEnv,
  MAX_REPLICAS,
  NATIVE_AUTOSCALER_MAX,
  nativeAutoscalerPolicy,
  SCALABLE_SERVICES,
} from '@taskfleet/infra';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import {
  NATIVE_MAX_REPLICAS,
  NATIVE_SERVICES,
  NativeDriver,
  parseNativePolicies,
} from '../../src/drivers/native.ts';

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({ PROMETHEUS_URL: 'http://prometheus:9090' });
    expect(c).toMatchObject({
      AUTOSCALER_DRIVER: 'swarm',
      dryRun: false,
      intervalMs: 15_000,
      prometheusTimeoutMs: 5_000,
      AUTOSCALER_RATE_WINDOW: '1m',
      DOCKER_HOST: 'unix:///var/run/docker.sock',
      AUTOSCALER_STACK_PREFIX: 'taskfleet_',
      services: [],
      PORT: 3500,
    });
    expect(loadConfig({ PROMETHEUS_URL: 'http://p:9090', AUTOSCALER_DRY_RUN: 'true' }).dryRun).toBe(true);
  });

  it('lists every problem in one error', () => {
    let error: unknown;
    try {
      loadConfig({
        AUTOSCALER_DRIVER: 'kubernetes',
        AUTOSCALER_INTERVAL: '15',
        AUTOSCALER_DRY_RUN: 'yes',
        DOCKER_HOST: 'ssh://manager',
        AUTOSCALER_RATE_WINDOW: 'a minute',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    for (const name of [
      'PROMETHEUS_URL',
      'AUTOSCALER_DRIVER',
      'AUTOSCALER_DRY_RUN',
      'AUTOSCALER_INTERVAL: "15"',
      'DOCKER_HOST: "ssh://manager"',
      'AUTOSCALER_RATE_WINDOW: "a minute"',
    ])
      expect(message).toContain(name);
  });
});

describe('the native policy setting', () => {
  it('reads each service as labels', () => {
    expect(parseNativePolicies('tasks: min=1 max=4 up-period=30s; gateway: max=3').labels).toEqual({
      tasks: {
        'taskfleet.autoscale.min': '1',
        'taskfleet.autoscale.max': '4',
        'taskfleet.autoscale.up-period': '30s',
      },
      gateway: { 'taskfleet.autoscale.max': '3' },
    });
  });

  it('refuses an unknown service, min above max and a value it cannot parse, all at once', async () => {
    const driver = new NativeDriver({
      stackDir: '/nonexistent',
      policies: 'tasks: min=5 max=2; gateway: up-period=soon; mailer: max=2; users: max=12; oops',
      only: ['tasks', 'gateway', 'users', 'reports'],
      stack: {
        replicas: async () => ({ tasks: 2, gateway: 2 }),
        busy: async () => false,
        scale: async () => undefined,
      },
    });
    const { problems, services } = await driver.list();
    expect(services).toEqual([]);
    expect(problems).toEqual(
      expect.arrayContaining([
        { service: '(AUTOSCALER_NATIVE_POLICY)', problem: '"oops" is not "service: key=value …"' },
        { service: 'tasks', problem: 'min 5 is above max 2' },
        {
          service: 'gateway',
          problem: 'taskfleet.autoscale.up-period: "soon" is not a duration (60s, 5m, 1h)',
        },
        { service: 'users', problem: 'max 12 is above the 8 replicas the native stack can run' },
        {
          service: 'reports',
          problem: 'unknown service (the native stack scales tasks, worker, users, gateway)',
        },
        {
          service: 'mailer',
          problem: 'unknown service (the native stack scales tasks, worker, users, gateway)',
        },
      ]),
    );
    expect(problems).toHaveLength(6);
  });

  it('knows what the stack runner can scale, and how far', () => {
    expect(NATIVE_SERVICES).toEqual([...SCALABLE_SERVICES]);
    expect(NATIVE_MAX_REPLICAS).toBe(MAX_REPLICAS);
  });

  it('a count that changed since the listing, or a scale under way, is not overwritten', async () => {
    const counts: Record<string, number> = { tasks: 2, gateway: 2 };
    let busy = false;
    const calls: [string, number][] = [];
    const driver = new NativeDriver({
      stackDir: '.',
      policies: '',
      stack: {
        replicas: async () => ({ ...counts }),
        busy: async () => busy,
        scale: async (s, n) => {
          if (busy)
            throw Object.assign(new Error('another scale of this stack is running'), { exitCode: 75 });
          calls.push([s, n]);
        },
      },
    });
    const [tasks] = (await driver.list()).services;
    expect(tasks).toMatchObject({ name: 'tasks', job: 'tasks', replicas: 2, updating: false });
    expect(tasks!.policy).toMatchObject({ min: 2, max: 8 });
    counts.tasks = 3;
    expect(await driver.scale(tasks!, 4)).toMatchObject({ ok: false, reason: 'conflict' });
    counts.tasks = 2;
    busy = true;
    expect((await driver.list()).services[0]?.updating).toBe(true);
    expect(await driver.scale(tasks!, 4)).toMatchObject({ ok: false, reason: 'updating' });
    busy = false;
    expect(await driver.scale(tasks!, 4)).toEqual({ ok: true });
    expect(calls).toEqual([['tasks', 4]]);
  });

  it('takes the settings `make up` gives it: its policy (2 or 1 to 4, tasks and gateway), live or dry run', async () => {
    const spec = { host: '127.0.0.1', port: 21080, prometheus: { host: '127.0.0.1', port: 21060 } };
    const stack = {
      replicas: async () => ({ tasks: 2, users: 2, worker: 1, gateway: 2 }),
      busy: async () => false,
      scale: async () => undefined,
    };
    for (const min of [1, 2]) {
      // The caller's own AUTOSCALER_DRY_RUN or PROMETHEUS_URL don't override the stack's.
      const env = autoscalerEnv(
        { dir: '/srv/stack' },
        { ...spec, mode: 'live', min },
        {
          AUTOSCALER_DRY_RUN: 'true',
          PROMETHEUS_URL: 'http://elsewhere:9090',
          AUTOSCALER_INTERVAL: '30s',
        },
      );
      const c = loadConfig(env);
      expect(c).toMatchObject({
        AUTOSCALER_DRIVER: 'native',
        dryRun: false,
        TASKFLEET_STACK_DIR: '/srv/stack',
        PROMETHEUS_URL: 'http://127.0.0.1:21060',
        PORT: 21080,
        intervalMs: 30_000, // other settings of the caller's pass through
      });
      const driver = new NativeDriver({
        stackDir: c.TASKFLEET_STACK_DIR,
        policies: c.AUTOSCALER_NATIVE_POLICY,
        stack,
      });
      const { services, problems } = await driver.list();
      expect(problems).toEqual([]);
      expect(services.map((s) => [s.name, s.policy.min, s.policy.max])).toEqual([
        ['tasks', min, NATIVE_AUTOSCALER_MAX],
        ['gateway', min, NATIVE_AUTOSCALER_MAX],
      ]);
    }
    expect(NATIVE_AUTOSCALER_MAX).toBeLessThanOrEqual(NATIVE_MAX_REPLICAS);
    expect(loadConfig(autoscalerEnv({ dir: '/s' }, { ...spec, mode: 'dry-run', min: 2 }, {})).dryRun).toBe(
      true,
    );
    // A policy of the caller's own wins over the stack's.
    const own = autoscalerEnv(
      { dir: '/s' },
      { ...spec, mode: 'live', min: 2 },
      { AUTOSCALER_NATIVE_POLICY: 'tasks: max=6' },
    );
    expect(own.AUTOSCALER_NATIVE_POLICY).toBe('tasks: max=6');
    expect(nativeAutoscalerPolicy(2)).toBe('tasks: min=2 max=4; gateway: min=2 max=4');
  });
});
