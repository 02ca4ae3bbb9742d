import { defaultServerConditions } from 'vite';
import { configDefaults, defineConfig } from 'vitest/config';

// One run, several projects (one per package plus the repo-wide config checks). Projects inherit this
// root config. Integration tests share one real stack started by the global setup (shared/infra); the
// `unit` project (every test/unit/ directory) is pure logic and must not wait for that stack.
//
// The global setup is declared per integration project, never at the root: vitest runs the root
// project's globalSetup on every run, whichever projects are selected, so a root entry would start the
// stack for `--project unit` too. Each project runs only when it has test files selected, and
// global-setup.ts shares one stack between the projects that do.
const STACK_SETUP = 'shared/infra/src/vitest/global-setup.ts';
const UNIT_TESTS = '**/test/unit/**';
const CONTAINER_TESTS = 'test/containers/**';
const SWARM_TESTS = 'test/swarm/**';
// `make test` (scripts/run-tests.ts) runs the container tests in a run of their own, after the rest, so
// the compose stack and the native stack don't compete for the cores: `only` / `skip` select them.
const containers = process.env.TASKFLEET_TEST_CONTAINERS ?? 'include';

const integration = (name: string, include: string) => ({
  extends: true,
  test: {
    name,
    include: [include],
    // Unit tests live under the same package test/ directories; they run once, in `unit`.
    exclude: [...configDefaults.exclude, UNIT_TESTS, CONTAINER_TESTS, SWARM_TESTS],
    globalSetup: [STACK_SETUP],
  },
});

// docker-compose.yml and the images, on a Docker engine (skipped, with the reason, without one). No
// native stack: the setup builds the images (layer cache: seconds when nothing changed) and removes
// what a killed earlier run left. testcontainers' reaper (Ryuk) can't be pulled here: off, and every
// test removes what it started.
const containerProject = {
  extends: true,
  test: {
    name: 'containers',
    include: [`${CONTAINER_TESTS}/*.test.ts`],
    globalSetup: ['shared/infra/src/vitest/containers-setup.ts'],
    env: { TESTCONTAINERS_RYUK_DISABLED: 'true' },
    // One file at a time: each starts containers enough to fill the cores.
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 15 * 60_000,
  },
};

// The Swarm lab (deploy/swarm/, issue 14): three Docker-in-Docker nodes with the stack on them; rolling
// updates, rollback and node loss under load. Selected like the container tests (`only` runs both; `make
// test` runs each project on its own), one file at a time.
const swarmProject = {
  extends: true,
  test: {
    name: 'swarm',
    include: [`${SWARM_TESTS}/*.test.ts`],
    globalSetup: ['shared/infra/src/vitest/swarm-setup.ts'],
    fileParallelism: false,
    testTimeout: 15 * 60_000,
    hookTimeout: 30 * 60_000,
  },
};

export default defineConfig({
  // Workspace packages resolve to their TypeScript sources, as under `node --conditions=@taskfleet/source`.
  ssr: { resolve: { conditions: ['@taskfleet/source', ...defaultServerConditions] } },
  test: {
    // Tests talk to real servers: generous limits, but a hung test still ends.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    maxWorkers: 3,
    // Off unless asked for (scripts/run-tests.ts, i.e. `make test`, always asks); these settings make
    // `vitest run --coverage` measure the same thing. Test files and test helpers are not the product.
    coverage: {
      provider: 'v8',
      include: ['shared/*/src/**/*.ts', 'services/*/src/**/*.ts', 'gateway/src/**/*.ts', 'bench/src/**/*.ts'],
      exclude: ['**/test/**', '**/*.test.ts', '**/*.d.ts'],
      // The summary on stdout for people, coverage-summary.json next to the test report for machines.
      reporter: ['text-summary', 'json-summary'],
      reportsDirectory: 'test-results/coverage',
      // A failing run is when the numbers are most wanted, and `make test` always prints them.
      reportOnFailure: true,
    },
    projects: [
      ...(containers === 'only' ? [] : everyOtherProject()),
      ...(containers === 'skip' ? [] : [containerProject, swarmProject]),
    ],
  },
});

function everyOtherProject() {
  return [
    integration('infra', 'shared/infra/test/**/*.test.ts'),
    integration('service', 'shared/service/test/**/*.test.ts'),
    integration('tasks', 'services/tasks/test/**/*.test.ts'),
    integration('users', 'services/users/test/**/*.test.ts'),
    integration('worker', 'services/worker/test/**/*.test.ts'),
    integration('autoscaler', 'services/autoscaler/test/**/*.test.ts'),
    integration('gateway', 'gateway/test/**/*.test.ts'),
    integration('bench', 'bench/test/**/*.test.ts'),
    integration('repo', 'test/**/*.test.ts'),
    {
      extends: true,
      test: {
        name: 'unit',
        // Every directory the integration projects exclude, so no test file is left out of both.
        include: [`${UNIT_TESTS}/*.test.ts`],
        // No server to wait for: a test that takes seconds here is hung, not slow.
        testTimeout: 10_000,
        hookTimeout: 10_000,
      },
    },
  ];
}
