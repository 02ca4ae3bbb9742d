// The stack on a real three-node Swarm (the lab: swarm/lab.ts), under a steady load through the edge:
// healthy and spread, a deploy refused before it could half work, rolling updates with no failed
// request and no duplicate create, a broken image rolled back by Swarm itself, and a lost node's tasks
// rescheduled with no acknowledged write lost. Figures are printed for the notes.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { repoPath, waitFor } from '@taskfleet/infra';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DeployRefused,
  deployStack,
  STACK_FILE,
  waitConverged,
} from '../../shared/infra/src/swarm/deploy.ts';
import { docker } from '../../shared/infra/src/swarm/docker.ts';
import { LAB_ENV, LAB_REGISTRY, STACK } from '../../shared/infra/src/swarm/lab.ts';
import {
  checkCreates,
  type Lab,
  type LoadReport,
  lab,
  nodeContainer,
  onManager,
  recentWindow,
  runningTasks,
  SteadyLoad,
  serviceState,
  waitUpdate,
} from '../support/swarm.ts';

const l = lab();
/**
 * Requests a second through the edge during rollouts, at most (issue 14 suggests 200 req/s of mixed reads
 * and writes). The lab's 25 containers on this machine's 2 cores idle at about one core; 50/s kept p95
 * near 350 ms with nothing failing on one run and near 4 s on another, 100/s saturated it (p95 6 s,
 * gateways shedding). So the test first finds a rate the machine carries with headroom — halving from
 * this one until 15 s pass with no failure and p95 under 300 ms — and rolls at that rate: a rollout must
 * lose nothing at a load the stack carries, on whatever machine runs it. The headroom is for the
 * rollout's own work: a second copy of a service starting on the same two cores. (With p95 under a
 * second as the bar, a marginal rate could pass its 15 s window; a CI run on that bar failed requests in the
 * autoscaler ramp.) The rate used is printed.
 */
const MAX_RPS = Number(process.env.SWARM_LOAD_RPS ?? 50);
/** The p95 under which a calibration window counts as carried with headroom. */
const CARRIED_P95_MS = 300;
const USERS = 20;
let RPS = MAX_RPS;

const resultsDir = () => {
  const dir = repoPath('test-results');
  mkdirSync(dir, { recursive: true });
  return dir;
};
const say = (line: string) => process.stdout.write(`[swarm lab] ${line}\n`);
const summary = (r: LoadReport) =>
  `${r.attempts} attempts in ${r.durationS.toFixed(0)} s (${r.rps.toFixed(0)}/s), p95 ${r.p95Ms.toFixed(0)} ms, ` +
  `${r.serverFailures.length} attempts failed by the servers (5xx, timeout), ${r.connectionErrors.length} connection ` +
  `errors retried, ${r.failedOperations} requests failed in the end, ${r.acknowledged}/${r.creates} creates ` +
  `acknowledged, outcomes ${JSON.stringify(r.byOutcome)}`;
/** What a rollout must not cause: a server's failure, or a request that failed after the client's retries. */
const expectNothingFailed = (r: LoadReport) => {
  if (r.failed.length > 0) say(`failed attempts: ${JSON.stringify(r.failed.slice(0, 20))}`);
  expect(r.serverFailures).toEqual([]);
  expect(r.failedOperations).toBe(0);
};

/** Push a host image to the lab registry under another tag; returns the name the nodes pull. */
async function pushAs(lab: Lab, image: string, tag: string): Promise<string> {
  const repo = image.split(':')[0]!;
  await docker({}, ['tag', image, `${lab.registry}/${repo}:${tag}`]);
  await docker({}, ['push', '-q', `${lab.registry}/${repo}:${tag}`], { timeoutMs: 300_000 });
  return `${LAB_REGISTRY}/${repo}:${tag}`;
}

describe.skipIf(!l)('the stack on a three-node Swarm', () => {
  const lab = l as Lab;
  const scratch = mkdtempSync(join(tmpdir(), 'taskfleet-swarm-test-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('is healthy on three nodes: every service converged, replicas spread, each scraped by Prometheus', async () => {
    await waitConverged({ host: lab.dockerHost }, STACK, 5 * 60_000);
    const nodes = (await onManager(lab, ['node', 'ls', '--format', '{{.Hostname}} {{.Status}}']))
      .trim()
      .split('\n');
    expect(nodes.sort()).toEqual(['node1 Ready', 'node2 Ready', 'node3 Ready']);
    const tasks = await runningTasks(lab, 'tasks');
    expect(new Set(tasks.map((t) => t.Node)).size).toBeGreaterThan(1);
    // Prometheus finds each replica through tasks.<service> (one target per replica, not one per VIP).
    const replicas = Object.fromEntries(
      await Promise.all(
        ['gateway', 'tasks', 'users', 'worker', 'autoscaler'].map(
          async (s) => [s, (await serviceState(lab, s)).replicas] as const,
        ),
      ),
    );
    await waitFor(
      'Prometheus to scrape every replica',
      async () => {
        const res = await fetch(`${lab.prometheus}/api/v1/targets?state=active`);
        const { data } = (await res.json()) as {
          data: { activeTargets: { labels: { job: string }; health: string }[] };
        };
        return Object.entries(replicas).every(
          ([job, n]) =>
            data.activeTargets.filter((t) => t.labels.job === job && t.health === 'up').length === n,
        );
      },
      { timeoutMs: 120_000, intervalMs: 2_000 },
    );
    const res = await fetch(`${lab.edge}/nginx-health`);
    expect(res.status).toBe(200);
  });

  it('carries a steady load with nothing failing (the rate the rollouts run at)', async () => {
    for (RPS = MAX_RPS; ; RPS = Math.floor(RPS / 2)) {
      const load = await SteadyLoad.start(lab.edgeDirect, USERS, RPS);
      await new Promise((r) => setTimeout(r, 15_000));
      const report = await load.stop();
      say(`steady load at ${RPS}/s: ${summary(report)}`);
      if ((report.failed.length === 0 && report.p95Ms < CARRIED_P95_MS) || RPS <= 10) {
        expectNothingFailed(report);
        break;
      }
    }
  });

  it('refuses a deploy with a missing secret, an unsatisfiable placement or a missing image, changing nothing', async () => {
    const before = await onManager(lab, ['service', 'ls', '--format', '{{.Name}} {{.Image}}']);
    const versions = await Promise.all(['tasks', 'gateway'].map((s) => serviceState(lab, s)));
    const base = {
      target: { host: lab.dockerHost },
      stack: STACK,
      registry: LAB_REGISTRY,
      registryFromHere: lab.registry,
      insecureRegistry: true,
      resolveImage: 'never' as const,
      env: LAB_ENV,
    };
    const refused = async (opts: Partial<Parameters<typeof deployStack>[0]>) => {
      const err = await deployStack({
        ...base,
        composeFiles: [STACK_FILE],
        secretsDir: lab.secretsDir,
        ...opts,
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(DeployRefused);
      return (err as DeployRefused).problems.join('\n');
    };

    const emptySecrets = join(scratch, 'no-secrets');
    expect(await refused({ secretsDir: emptySecrets })).toMatch(/secret file .*postgres_password is missing/);

    const unlabelled = join(scratch, 'needs-a-label.yml');
    writeFileSync(
      unlabelled,
      'services:\n  tasks:\n    deploy:\n      placement:\n        constraints: [node.labels.taskfleet.gpu == true]\n',
    );
    expect(await refused({ composeFiles: [STACK_FILE, unlabelled] })).toMatch(
      /service tasks: no ready node satisfies node\.labels\.taskfleet\.gpu == true/,
    );

    expect(await refused({ env: { ...LAB_ENV, TASKFLEET_VERSION: '9.9.9-never-built' } })).toMatch(
      /image registry:5000\/taskfleet\/tasks:9\.9\.9-never-built is not in the registry/,
    );

    expect(await onManager(lab, ['service', 'ls', '--format', '{{.Name}} {{.Image}}'])).toBe(before);
    const after = await Promise.all(['tasks', 'gateway'].map((s) => serviceState(lab, s)));
    expect(after.map((s) => s.version)).toEqual(versions.map((s) => s.version));
  });

  it('rolls gateway, tasks and users — forced, then to a new image tag — with 0 failed requests, 0 duplicates', async () => {
    // Pushed before the load starts: a push takes this machine's CPU from the stack for a while.
    const next: Record<string, string> = {};
    for (const service of ['gateway', 'tasks', 'users'])
      next[service] = await pushAs(lab, `taskfleet/${service}:0.1.0`, '0.1.0-next');
    const load = await SteadyLoad.start(lab.edgeDirect, USERS, RPS);
    const timeline: string[] = [];
    const t0 = performance.now();
    const mark = (what: string) => timeline.push(`${((performance.now() - t0) / 1000).toFixed(0)} s ${what}`);
    try {
      for (const service of ['gateway', 'tasks', 'users']) {
        mark(`${service} --force`);
        await onManager(lab, ['service', 'update', '--detach', '--force', `${STACK}_${service}`]);
        expect(await waitUpdate(lab, service, ['completed', 'rollback_completed', 'paused'])).toBe(
          'completed',
        );
      }
      for (const service of ['gateway', 'tasks', 'users']) {
        const image = next[service]!;
        mark(`${service} → ${image}`);
        await onManager(lab, ['service', 'update', '--detach', '--image', image, `${STACK}_${service}`]);
        expect(await waitUpdate(lab, service, ['completed', 'rollback_completed', 'paused'])).toBe(
          'completed',
        );
        expect((await serviceState(lab, service)).image).toBe(image);
      }
      mark('done');
    } finally {
      const report = await load.stop();
      say(`rolling updates: ${summary(report)}`);
      say(`timeline: ${timeline.join(' · ')}`);
      expectNothingFailed(report);
      expect(report.acknowledged).toBe(report.creates);
      expect(await checkCreates(lab, load)).toEqual({
        lost: [],
        duplicated: [],
        unexpected: [],
        mismatched: [],
      });
    }
  });

  it('rolls a broken image (its health check fails) back by itself, with 0 failed requests', async () => {
    // The service's own health check asks port 3000; this image's server listens elsewhere.
    const context = join(scratch, 'broken');
    mkdirSync(context);
    writeFileSync(join(context, 'Dockerfile'), 'FROM taskfleet/tasks:0.1.0\nENV PORT=3999\n');
    await docker({}, ['build', '-q', '-t', 'taskfleet/tasks:0.1.0-broken', context], {
      env: { DOCKER_BUILDKIT: '0' },
    });
    const broken = await pushAs(lab, 'taskfleet/tasks:0.1.0-broken', '0.1.0-broken');
    const good = (await serviceState(lab, 'tasks')).image;
    const load = await SteadyLoad.start(lab.edgeDirect, USERS, RPS);
    const t0 = performance.now();
    try {
      await onManager(lab, ['service', 'update', '--detach', '--image', broken, `${STACK}_tasks`]);
      expect(await waitUpdate(lab, 'tasks', ['rollback_completed', 'completed', 'rollback_paused'])).toBe(
        'rollback_completed',
      );
      say(
        `broken image rolled back ${((performance.now() - t0) / 1000).toFixed(0)} s after the update began`,
      );
      expect((await serviceState(lab, 'tasks')).image).toBe(good);
      await waitConverged({ host: lab.dockerHost }, STACK, 5 * 60_000);
    } finally {
      const report = await load.stop();
      say(`rollback: ${summary(report)}`);
      expectNothingFailed(report);
      expect(await checkCreates(lab, load)).toEqual({
        lost: [],
        duplicated: [],
        unexpected: [],
        mismatched: [],
      });
    }
  });

  it('autoscales tasks with a load ramp: replicas rise under load, then fall after the cooldown', async () => {
    // The policy's times shortened and its request target lowered so this machine's load crosses it;
    // the decision is the same function as in production (ADR 0014). Service labels: no task restarts.
    const policy = {
      'taskfleet.autoscale.min': '3',
      'taskfleet.autoscale.max': '6',
      // A fifth of the load per replica, unrounded: at any calibrated rate (6/s included) three
      // replicas start at 1.7× the target, well above the 0.8 threshold, and the low phase far below it.
      'taskfleet.autoscale.target-rps': (RPS / 5).toFixed(1),
      'taskfleet.autoscale.up-period': '15s',
      'taskfleet.autoscale.up-cooldown': '30s',
      'taskfleet.autoscale.down-period': '20s',
      'taskfleet.autoscale.down-cooldown': '20s',
    };
    const labelArgs = Object.entries(policy).flatMap(([k, v]) => ['--label-add', `${k}=${v}`]);
    await onManager(lab, ['service', 'update', '--detach', ...labelArgs, `${STACK}_tasks`]);
    await onManager(lab, [
      'service',
      'update',
      '--detach',
      '--env-add',
      'AUTOSCALER_DRY_RUN=false',
      '--env-add',
      'AUTOSCALER_RATE_WINDOW=20s',
      `${STACK}_autoscaler`,
    ]);
    await waitUpdate(lab, 'autoscaler', ['completed']);
    const low = Math.max(1, Math.round(RPS / 10));
    const load = await SteadyLoad.start(lab.edgeDirect, USERS, low);
    const timeline: {
      t: number;
      replicas: number;
      running: number;
      rps: number;
      p95Ms: number;
      phase: string;
    }[] = [];
    let phase = 'low';
    const sample = setInterval(() => {
      const t = performance.now() - load.startedAt;
      void Promise.all([serviceState(lab, 'tasks'), runningTasks(lab, 'tasks')]).then(([state, running]) =>
        timeline.push({
          t: Math.round(t / 1000),
          replicas: state.replicas ?? 0,
          running: running.length,
          ...recentWindow(load, 5_000, performance.now() - load.startedAt),
          phase,
        }),
      );
    }, 5_000);
    try {
      await new Promise((r) => setTimeout(r, 30_000));
      expect((await serviceState(lab, 'tasks')).replicas).toBe(3);
      phase = 'high';
      load.setRate(RPS);
      const rose = await waitFor(
        'the autoscaler to add task replicas',
        async () =>
          ((await serviceState(lab, 'tasks')).replicas ?? 0) > 3 && performance.now() - load.startedAt,
        { timeoutMs: 5 * 60_000, intervalMs: 2_000 },
      );
      // Stay high a little longer: the cooldown passes and the next step may come.
      await new Promise((r) => setTimeout(r, 45_000));
      phase = 'low';
      load.setRate(low);
      const peak = (await serviceState(lab, 'tasks')).replicas ?? 0;
      const fell = await waitFor(
        'the autoscaler to remove task replicas',
        async () =>
          ((await serviceState(lab, 'tasks')).replicas ?? 99) < peak && performance.now() - load.startedAt,
        { timeoutMs: 5 * 60_000, intervalMs: 2_000 },
      );
      await waitFor(
        'tasks back at its minimum',
        async () => (await serviceState(lab, 'tasks')).replicas === 3,
        { timeoutMs: 6 * 60_000, intervalMs: 2_000 },
      );
      const report = await load.stop();
      say(
        `autoscaler ramp: low ${low}/s, high ${RPS}/s; up at ${(rose / 1000).toFixed(0)} s (peak ${peak}), ` +
          `first step down at ${(fell / 1000).toFixed(0)} s; ${summary(report)}`,
      );
      say(`ramp timeline: ${JSON.stringify(timeline)}`);
      writeFileSync(
        join(resultsDir(), 'autoscaler-ramp.json'),
        `${JSON.stringify({ policy, low, high: RPS, timeline }, null, 2)}\n`,
      );
      expectNothingFailed(report);
      const decisions = await (
        await fetch(
          `${lab.prometheus}/api/v1/query?query=${encodeURIComponent('sum by (action) (autoscaler_decisions_total{service="taskfleet_tasks"})')}`,
        )
      ).json();
      say(`autoscaler decisions: ${JSON.stringify(decisions)}`);
    } finally {
      clearInterval(sample);
      await load.stop();
      // Back to the stack's policy and to dry run, so the next test isn't scaled under.
      await onManager(lab, [
        'service',
        'update',
        '--detach',
        ...Object.keys(policy).flatMap((k) => ['--label-rm', k]),
        `${STACK}_tasks`,
      ]);
      await onManager(lab, [
        'service',
        'update',
        '--detach',
        '--env-add',
        'AUTOSCALER_DRY_RUN=true',
        `${STACK}_autoscaler`,
      ]);
      await waitUpdate(lab, 'autoscaler', ['completed']);
      await onManager(lab, ['service', 'scale', '--detach', `${STACK}_tasks=3`, `${STACK}_gateway=3`]);
      await waitConverged({ host: lab.dockerHost }, STACK, 5 * 60_000);
    }
  });

  it('reschedules a killed worker node’s tasks elsewhere; errors in the gap counted; no acknowledged write lost', async () => {
    const onNode3 = async () =>
      (await Promise.all(['gateway', 'tasks', 'users', 'worker'].map((s) => runningTasks(lab, s))))
        .flat()
        .filter((t) => t.Node === 'node3').length;
    // Make sure node3 has replicas to lose (Swarm doesn't rebalance by itself).
    if ((await onNode3()) === 0) {
      await onManager(lab, ['service', 'update', '--detach', '--force', `${STACK}_tasks`]);
      await waitUpdate(lab, 'tasks', ['completed']);
    }
    const lost = await onNode3();
    expect(lost).toBeGreaterThan(0);
    const load = await SteadyLoad.start(lab.edgeDirect, USERS, RPS);
    let report: LoadReport | undefined;
    try {
      await new Promise((r) => setTimeout(r, 5_000));
      const killedAt = performance.now();
      await docker({}, ['kill', nodeContainer('node3')]);
      const downAfter = await waitFor(
        'the manager to see node3 down',
        async () =>
          (await onManager(lab, ['node', 'inspect', '-f', '{{.Status.State}}', 'node3'])).trim() === 'down' &&
          performance.now() - killedAt,
        { timeoutMs: 120_000, intervalMs: 500 },
      );
      const rescheduledAfter = await waitFor(
        'every replica running again, none on node3',
        async () => {
          const services = await Promise.all(
            ['gateway', 'tasks', 'users', 'worker'].map(
              async (s) => [await serviceState(lab, s), await runningTasks(lab, s)] as const,
            ),
          );
          return (
            services.every(
              ([state, tasks]) => tasks.length === state.replicas && tasks.every((t) => t.Node !== 'node3'),
            ) && performance.now() - killedAt
          );
        },
        { timeoutMs: 5 * 60_000, intervalMs: 1_000 },
      );
      await new Promise((r) => setTimeout(r, 5_000));
      report = await load.stop();
      const gap = report.failed.filter((a) => a.at >= 5_000);
      say(
        `node loss: ${lost} replicas on node3; node down after ${(downAfter / 1000).toFixed(1)} s, ` +
          `replicas rescheduled after ${(rescheduledAfter / 1000).toFixed(1)} s; ${gap.length} failed attempts in the gap ` +
          `(${JSON.stringify(Object.fromEntries(Object.entries(groupBy(gap)).map(([k, v]) => [k, v])))}); ${summary(report)}`,
      );
      expect(report.acknowledged).toBe(report.creates);
      expect(await checkCreates(lab, load)).toEqual({
        lost: [],
        duplicated: [],
        unexpected: [],
        mismatched: [],
      });
    } finally {
      if (!report) await load.stop();
      // node3 back: its engine restarts and rejoins with the Swarm state on its volume.
      await docker({}, ['start', nodeContainer('node3')]);
      await waitFor(
        'node3 to rejoin',
        async () =>
          (await onManager(lab, ['node', 'inspect', '-f', '{{.Status.State}}', 'node3'])).trim() === 'ready',
        { timeoutMs: 180_000, intervalMs: 1_000 },
      );
    }
  });
});

function groupBy(attempts: { outcome: unknown; op: string }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of attempts)
    out[`${a.op} ${String(a.outcome)}`] = (out[`${a.op} ${String(a.outcome)}`] ?? 0) + 1;
  return out;
}
