// The configuration: defaults, and every bad variable reported at once (a ConfigError: exit 2).
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { NativeDriver, parseNativePolicies } from '../../src/drivers/native.ts';

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
      policies: 'tasks: min=5 max=2; gateway: up-period=soon; mailer: max=2; oops',
      only: ['tasks', 'gateway', 'reports'],
      stack: { replicas: async () => ({ tasks: 2, gateway: 2 }), scale: async () => undefined },
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
        { service: 'reports', problem: 'unknown service (the native stack scales tasks, gateway)' },
        { service: 'mailer', problem: 'unknown service (the native stack scales tasks, gateway)' },
      ]),
    );
    expect(problems).toHaveLength(5);
  });
});
