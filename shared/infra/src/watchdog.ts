// Stops a test stack whose owner (the test runner) died without tearing it down: killed with -9,
// crashed, or interrupted. Started detached by the vitest global setup:
//   node watchdog.ts OWNER_PID STACK_DIR
// It exits on its own once the stack it has seen is gone (normal teardown removes state.json).
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive } from './proc.ts';
import { stopStack } from './stack.ts';
import { readState } from './state.ts';

const [ownerArg, dirArg] = process.argv.slice(2);
const owner = Number(ownerArg);
if (!Number.isInteger(owner) || !dirArg) {
  process.stderr.write('usage: watchdog.ts OWNER_PID STACK_DIR\n');
  process.exit(2);
}
const dir: string = dirArg;

const log = (m: string) => process.stdout.write(`${new Date().toISOString()} watchdog: ${m}\n`);

async function reap(reason: string): Promise<void> {
  if (readState(dir)) {
    log(`${reason}: stopping the stack in ${dir}`);
    await stopStack(dir, log);
  }
  rmSync(dir, { recursive: true, force: true });
}

let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
});

let seen = false; // the stack may not have written its state yet when we start
for (;;) {
  const up = readState(dir) !== undefined;
  if (up) seen = true;
  else if (seen) process.exit(0); // torn down normally
  if (!isAlive(owner)) {
    await reap(`owner ${owner} is gone`);
    process.exit(0);
  }
  if (stopping) {
    await reap('asked to stop');
    process.exit(0);
  }
  await sleep(250);
}
