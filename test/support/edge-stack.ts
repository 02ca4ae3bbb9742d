// A whole native stack of one test file's own — nginx, both gateways, every service as a real process,
// the servers behind them — started before its tests and stopped after, for tests that go through the
// edge and send signals to processes. Native runtime only (faults are sent by PID).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StackOptions, StackState } from '@taskfleet/infra';
import { guardStack, readState, startStack, stopStack, TEST_STACK_PREFIX } from '@taskfleet/infra';
import { testStack } from '@taskfleet/infra/vitest';
import { afterAll, beforeAll } from 'vitest';

export const native = testStack().state.runtime === 'native';

export interface EdgeStack {
  dir: string;
  state: StackState;
  /** nginx over plain HTTP. */
  edge: string;
  /** The PID of a component by name (`redis`, `gateway-1`, `tasks-2`, …), as it is now. */
  pidOf(name: string): number;
  /** The base URL of one service replica (bypassing nginx). */
  serviceUrl(service: string, index: number): string;
  /** A folder for a side stack (a replacement server, say), stopped with the stack. */
  sideDir(name: string): string;
}

export function edgeStack(
  tag: string,
  opts: Pick<StackOptions, 'serviceEnv' | 'edgeLimits' | 'autoscaler'>,
): EdgeStack {
  const sides: string[] = [];
  const stack: EdgeStack = {
    dir: '',
    state: undefined as unknown as StackState,
    edge: '',
    pidOf(name) {
      const component = readState(stack.dir)?.components.find((c) => c.name === name);
      if (!component) throw new Error(`no component ${name}`);
      return component.pid;
    },
    serviceUrl(service, index) {
      const s = stack.state.endpoints.services?.find((x) => x.service === service && x.index === index);
      if (!s) throw new Error(`no replica ${index} of ${service}`);
      return `http://${s.host}:${s.port}`;
    },
    sideDir(name) {
      const dir = join(stack.dir, name);
      mkdirSync(dir, { recursive: true });
      guardStack(dir, process.pid, join(dir, 'watchdog.log'));
      sides.push(dir);
      return dir;
    },
  };
  beforeAll(async () => {
    if (!native) return;
    stack.dir = mkdtempSync(join(tmpdir(), `${TEST_STACK_PREFIX}${tag}-`));
    guardStack(stack.dir, process.pid, join(stack.dir, 'watchdog.log'));
    stack.state = await startStack({
      dir: stack.dir,
      ports: 'free',
      services: true,
      durability: 'fast',
      ...opts,
    });
    stack.edge = `http://${stack.state.endpoints.nginx.host}:${stack.state.endpoints.nginx.httpPort}`;
  }, 15 * 60_000); // seven service replicas may each take minutes to turn ready on a slow, busy host
  afterAll(async () => {
    if (!stack.dir) return;
    for (const side of sides) await stopStack(side);
    await stopStack(stack.dir);
    rmSync(stack.dir, { recursive: true, force: true });
  });
  return stack;
}
