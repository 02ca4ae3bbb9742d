// `make test`: run vitest against real servers, then prove that no process or container started by the
// tests is left, and print the closing line CI reads: "N passed, M failed".
//   node scripts/run-tests.ts [vitest args…]      e.g. --project infra, --project unit (no stack)
// Without arguments, three runs: every project on the native stack (with v8 coverage of the workspace's
// src/, its summary printed after the results), then the `containers` project — the images built from
// the tree and docker-compose.yml end to end — and the `swarm` project — the three-node Swarm lab —
// each on its own, so the stacks don't share the cores; both are skipped, saying why, when no Docker
// engine answers. With arguments, one run of exactly those.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processesOfStacks, REPO_ROOT, TEST_STACK_PREFIX } from '@taskfleet/infra';

const report = join(REPO_ROOT, 'test-results', 'vitest.json');
mkdirSync(join(REPO_ROOT, 'test-results'), { recursive: true });
rmSync(report, { force: true });

const args = process.argv.slice(2);
let passed = 0;
let failed = 0;

/** One vitest run; its counts are added to the totals. */
function vitest(extra: string[], env: Record<string, string> = {}): void {
  rmSync(report, { force: true });
  const run = spawnSync(
    join(REPO_ROOT, 'node_modules', '.bin', 'vitest'),
    // A stale on-disk transform cache once made a failing setup pass: always transform afresh.
    [
      'run',
      '--no-fsModuleCache',
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${report}`,
      ...extra,
    ],
    { cwd: REPO_ROOT, stdio: 'inherit', env: { ...process.env, ...env } },
  );
  let runFailed = 0;
  if (existsSync(report)) {
    const results = JSON.parse(readFileSync(report, 'utf8')) as {
      numPassedTests: number;
      numFailedTests: number;
      numFailedTestSuites: number;
    };
    passed += results.numPassedTests;
    // A file that failed to load has no failed tests but is a failure all the same.
    runFailed = results.numFailedTests + (results.numFailedTests === 0 ? results.numFailedTestSuites : 0);
  } else {
    process.stderr.write(`vitest wrote no report (exit ${run.status ?? run.signal})\n`);
    runFailed = 1;
  }
  if (run.status !== 0 && runFailed === 0) runFailed = 1; // e.g. the global setup failed
  failed += runFailed;
}

if (args.length > 0) {
  vitest(['--coverage.enabled', ...args]);
} else {
  const t0 = Date.now();
  vitest(['--coverage.enabled'], { TASKFLEET_TEST_CONTAINERS: 'skip' });
  process.stdout.write(`::: native suite took ${Math.round((Date.now() - t0) / 1000)} s\n`);
  const t1 = Date.now();
  vitest(['--project', 'containers'], { TASKFLEET_TEST_CONTAINERS: 'only' });
  process.stdout.write(`::: container suite took ${Math.round((Date.now() - t1) / 1000)} s\n`);
  const t2 = Date.now();
  vitest(['--project', 'swarm'], { TASKFLEET_TEST_CONTAINERS: 'only' });
  process.stdout.write(`::: swarm lab suite took ${Math.round((Date.now() - t2) / 1000)} s\n`);
}

// Every server the tests started carries TASKFLEET_STACK=<its stack dir> in its environment.
const prefix = join(process.env.TASKFLEET_TEST_TMPDIR ?? tmpdir(), TEST_STACK_PREFIX);
let leftovers = processesOfStacks(prefix);
for (let i = 0; i < 50 && leftovers.length > 0; i++) {
  await sleep(200); // a server may still be finishing its shutdown
  leftovers = processesOfStacks(prefix);
}
if (leftovers.length === 0) {
  process.stdout.write('check: no server process started by the tests is left running\n');
  passed += 1;
} else {
  process.stdout.write(`check FAILED: ${leftovers.length} processes of test stacks are still running:\n`);
  for (const p of leftovers) process.stdout.write(`  ${p.pid} ${p.command}  (${p.stack})\n`);
  failed += 1;
}

// Every container the tests started carries the label of its compose project (tf-<tag>-<pid>) or of
// the image tests (taskfleet.test-pid); after the runs none may be left.
const containers = leftoverContainers();
if (containers.length === 0) {
  process.stdout.write('check: no container started by the tests is left\n');
  passed += 1;
} else {
  process.stdout.write(`check FAILED: containers of test runs are still there:\n${containers.join('\n')}\n`);
  failed += 1;
}

process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
process.exitCode = failed > 0 ? 1 : 0;

function leftoverContainers(): string[] {
  const ps = spawnSync(
    'docker',
    [
      'ps',
      '-a',
      '--format',
      '{{.Names}} {{.Label "com.docker.compose.project"}} {{.Label "taskfleet.test-pid"}}',
    ],
    { encoding: 'utf8', timeout: 10_000 },
  );
  if (ps.status !== 0) return []; // no engine: nothing can be left
  return ps.stdout.split('\n').filter((line) => {
    const [, project, testPid] = line.split(' ');
    return /^tf-[a-z0-9]+-\d+$/.test(project ?? '') || Boolean(testPid);
  });
}
