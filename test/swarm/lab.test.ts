// The stack on a real three-node Swarm (the lab: swarm/lab.ts), under a steady load through the edge:
// healthy and spread, a deploy refused before it could half work, rolling updates with no failed
// request and no duplicate create, a broken image rolled back by Swarm itself, and a lost node's tasks
// rescheduled with no acknowledged write lost. Figures are printed for the notes.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { waitFor } from '@taskfleet/infra';
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
  runningTasks,
  SteadyLoad,
  serviceState,
  waitUpdate,
} from '../support/swarm.ts';

const l = lab();
/**
 * Requests a second through the edge during rollouts, at most (issue 14 suggests 200 req/s of mixed reads
 * and writes). The lab's 25 containers on this machine's 2 cores idle at about one core; 50/s kept p95
 * near 350 ms with nothing failing, 100/s saturated it (p95 6 s, gateways shedding). So the test first
 * finds a rate the machine sustains — halving from this one until 15 s pass with no failure and p95
 * under a second — and rolls at that rate: a rollout must lose nothing at a load the stack carries,
 * on whatever machine runs it. The rate used is printed.
 */
const MAX_RPS = Number(process.env.SWARM_LOAD_RPS ?? 50);
const USERS = 20;
let RPS = MAX_RPS;

const say = (line: string) => process.stdout.write(`[swarm lab] ${line}\n`);
const summary = (r: LoadReport) =>
  `${r.attempts} attempts in ${r.durationS.toFixed(0)} s (${r.rps.toFixed(0)}/s), p95 ${r.p95Ms.toFixed(0)} ms, ` +
  `${r.failed.length} failed, ${r.acknowledged}/${r.creates} creates acknowledged, outcomes ${JSON.stringify(r.byOutcome)}`;

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
      if ((report.failed.length === 0 && report.p95Ms < 1_000) || RPS <= 10) {
        expect(report.failed).toEqual([]);
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
        const image = await pushAs(lab, `taskfleet/${service}:0.1.0`, '0.1.0-next');
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
      if (report.failed.length > 0) say(`failed: ${JSON.stringify(report.failed.slice(0, 10))}`);
      expect(report.failed).toEqual([]);
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
      expect(report.failed).toEqual([]);
      expect(await checkCreates(lab, load)).toEqual({
        lost: [],
        duplicated: [],
        unexpected: [],
        mismatched: [],
      });
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
