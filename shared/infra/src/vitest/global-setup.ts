// vitest globalSetup: one real stack for the whole run, shared by every project, with a database, a
// RabbitMQ vhost and a Redis database per test worker. Tests reach it through `testStack()`.
// Always local processes (the same Debian servers the images are built from): the suite needs PIDs to
// signal and per-worker databases. The container runtime has its own tests (test/e2e-compose.test.ts,
// test/images.test.ts), which start docker-compose.yml and the images themselves (ADR 0012).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { guardStack } from '../guard.ts';
import { stopProcess } from '../proc.ts';
import { startStack, stopStack } from '../stack.ts';
import type { StackState } from '../state.ts';
import { ensurePackages } from '../system.ts';
import { TEST_STACK_PREFIX, workerDatabase, workerVhost } from './resources.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    taskfleetStack: StackState;
  }
}

interface Shared {
  users: number;
  state: Promise<StackState>;
  teardown: () => Promise<void>;
}
// Every project runs its own globalSetup in this one main process: share one stack between them.
const KEY = Symbol.for('taskfleet.test-stack');
const registry = globalThis as typeof globalThis & { [KEY]?: Shared };

async function bringUp(workers: number): Promise<{ state: StackState; teardown: () => Promise<void> }> {
  const ids = Array.from({ length: workers }, (_, i) => i + 1);
  const databases = ['taskfleet', ...ids.map(workerDatabase)];
  const vhosts = ['taskfleet', ...ids.map(workerVhost)];
  const started = Date.now();
  const verbose = process.env.TASKFLEET_TEST_VERBOSE === '1';
  const progress = (m: string) => {
    if (verbose) process.stderr.write(`[test-stack ${((Date.now() - started) / 1000).toFixed(1)}s] ${m}\n`);
  };
  await ensurePackages();
  // Under the system temp dir: the `postgres` OS user must be able to reach it.
  const dir = mkdtempSync(join(process.env.TASKFLEET_TEST_TMPDIR ?? tmpdir(), TEST_STACK_PREFIX));

  // The watchdog stops the stack if this process dies without running teardown (kill -9, crash).
  const watchdog = guardStack(dir, process.pid, join(dir, 'watchdog.log'));

  const teardown = async () => {
    await stopStack(dir, progress);
    if (watchdog.pid)
      await stopProcess(
        { pid: watchdog.pid, startTicks: 0 },
        { signal: 'SIGTERM', group: false, graceMs: 5_000 },
      );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const state = await startStack({
      dir,
      ports: 'free',
      durability: 'fast',
      databases,
      vhosts,
      ownerPid: process.pid,
      onProgress: progress,
    });
    progress(`stack ready in ${dir}`);
    return { state, teardown };
  } catch (err) {
    await teardown();
    throw err;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let shared = registry[KEY];
  if (!shared) {
    const up = bringUp(project.globalConfig.maxWorkers);
    shared = {
      users: 0,
      state: up.then((u) => u.state),
      teardown: async () => (await up).teardown(),
    };
    registry[KEY] = shared;
  }
  shared.users++;
  project.provide('taskfleetStack', await shared.state);
  return async () => {
    const s = registry[KEY];
    if (!s || --s.users > 0) return;
    delete registry[KEY];
    await s.teardown();
  };
}
