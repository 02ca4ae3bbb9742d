// `make test`: run vitest (every project) against real servers, then prove that no process started by
// the tests is left, and print the closing line CI reads: "N passed, M failed".
//   node scripts/run-tests.ts [vitest args…]      e.g. --project infra, --project unit (no stack)
// Every run measures v8 coverage of the workspace's src/ (settings: vitest.config.ts) and prints its
// text summary after the test results, so the closing line stays last.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processesOfStacks, REPO_ROOT, TEST_STACK_PREFIX } from '@taskfleet/infra';

const report = join(REPO_ROOT, 'test-results', 'vitest.json');
mkdirSync(join(REPO_ROOT, 'test-results'), { recursive: true });
rmSync(report, { force: true });

const vitest = spawnSync(
  join(REPO_ROOT, 'node_modules', '.bin', 'vitest'),
  // A stale on-disk transform cache once made a failing setup pass: always transform afresh.
  [
    'run',
    '--no-fsModuleCache',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${report}`,
    '--coverage.enabled',
    ...process.argv.slice(2),
  ],
  { cwd: REPO_ROOT, stdio: 'inherit' },
);

let passed = 0;
let failed = 0;
if (existsSync(report)) {
  const results = JSON.parse(readFileSync(report, 'utf8')) as {
    numPassedTests: number;
    numFailedTests: number;
    numFailedTestSuites: number;
  };
  passed += results.numPassedTests;
  // A file that failed to load has no failed tests but is a failure all the same.
  failed += results.numFailedTests + (results.numFailedTests === 0 ? results.numFailedTestSuites : 0);
} else {
  process.stderr.write(`vitest wrote no report (exit ${vitest.status ?? vitest.signal})\n`);
  failed += 1;
}
if (vitest.status !== 0 && failed === 0) failed += 1; // e.g. the global setup failed

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

process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
process.exitCode = failed > 0 ? 1 : 0;
