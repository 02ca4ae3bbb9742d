// Labels → policy: the seed's numbers by default, each label's format, and every problem reported at once.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  autoscaleEnabled,
  parseDuration,
  parseFraction,
  policyFromLabels,
  policyProblems,
} from '../../src/labels.ts';
import { DEFAULT_POLICY } from '../../src/policy.ts';

const L = (labels: Record<string, string>) =>
  Object.fromEntries(Object.entries(labels).map(([k, v]) => [`taskfleet.autoscale.${k}`, v]));

describe('label values', () => {
  it('reads durations and fractions in the forms the docs give', () => {
    expect(parseDuration('60s')).toBe(60_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('250ms')).toBe(250);
    for (const bad of ['60', 's', '-5s', '5 m', '1d', '']) expect(parseDuration(bad), bad).toBeUndefined();
    expect(parseFraction('0.7')).toBe(0.7);
    expect(parseFraction('70%')).toBe(0.7);
    expect(parseFraction('1')).toBe(1);
    for (const bad of ['70 %', 'high', '-0.5', '.7%', '']) expect(parseFraction(bad), bad).toBeUndefined();
  });

  it('round-trips any whole number of seconds and any percentage', () => {
    fc.assert(fc.property(fc.nat(100_000), (s) => parseDuration(`${s}s`) === s * 1000));
    fc.assert(fc.property(fc.integer({ min: 1, max: 100 }), (p) => parseFraction(`${p}%`) === p / 100));
  });
});

describe('policyFromLabels', () => {
  it('is the seed policy without labels (the label that enables it and the job name are not policy)', () => {
    expect(
      policyFromLabels({ 'taskfleet.autoscale': 'true', 'taskfleet.autoscale.job': 'tasks', other: 'x' }),
    ).toEqual({ policy: DEFAULT_POLICY, problems: [] });
  });

  it('reads every key', () => {
    const { policy, problems } = policyFromLabels(
      L({
        min: '2',
        max: '8',
        'target-cpu': '60%',
        'target-memory': '0.9',
        'target-rps': '500',
        'up-threshold': '0.75',
        'up-period': '30s',
        'up-cooldown': '2m',
        'up-step': '3',
        'down-threshold': '25%',
        'down-period': '10m',
        'down-cooldown': '15m',
        'down-step': '2',
      }),
    );
    expect(problems).toEqual([]);
    expect(policy).toEqual({
      min: 2,
      max: 8,
      targetCpu: 0.6,
      targetMemory: 0.9,
      targetRps: 500,
      upThreshold: 0.75,
      upPeriodMs: 30_000,
      upCooldownMs: 120_000,
      upStep: 3,
      downThreshold: 0.25,
      downPeriodMs: 600_000,
      downCooldownMs: 900_000,
      downStep: 2,
    });
  });

  it('lists every unparseable or unknown label, each by name', () => {
    expect(
      policyFromLabels(
        L({ min: 'three', 'up-period': '60', 'target-cpu': 'lots', 'target-rps': '0', 'up-treshold': '0.8' }),
      ).problems,
    ).toEqual([
      'taskfleet.autoscale.min: "three" is not a whole number',
      'taskfleet.autoscale.up-period: "60" is not a duration (60s, 5m, 1h)',
      'taskfleet.autoscale.target-cpu: "lots" is not a fraction (0.7 or 70%)',
      'taskfleet.autoscale.target-rps: "0" is not a positive number of requests per second',
      expect.stringMatching(/^taskfleet\.autoscale\.up-treshold: unknown label/),
    ]);
  });

  it('refuses min above max, thresholds outside (0, 1], down not below up, steps of 0', () => {
    expect(policyFromLabels(L({ min: '10', max: '4' })).problems).toEqual(['min 10 is above max 4']);
    expect(
      policyProblems({
        ...DEFAULT_POLICY,
        upThreshold: 1.5,
        downThreshold: 0,
        targetCpu: 0,
        upStep: 0,
      }),
    ).toEqual([
      'target-cpu 0 is not in (0, 1]',
      'up-threshold 1.5 is not in (0, 1]',
      'down-threshold 0 is not in (0, 1]',
      'up-step must be at least 1',
    ]);
    expect(policyFromLabels(L({ 'down-threshold': '0.8', 'up-threshold': '0.5' })).problems).toEqual([
      'down-threshold 0.8 is not below up-threshold 0.5',
    ]);
  });

  it('is under the autoscaler only with taskfleet.autoscale=true', () => {
    expect(autoscaleEnabled({ 'taskfleet.autoscale': 'true' })).toBe(true);
    expect(autoscaleEnabled({ 'taskfleet.autoscale': 'false' })).toBe(false);
    expect(autoscaleEnabled({})).toBe(false);
    expect(autoscaleEnabled({ 'taskfleet.autoscale': 'yes' })).toBe(
      'taskfleet.autoscale: "yes" is neither true nor false',
    );
  });
});
