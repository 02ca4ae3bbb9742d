// Start the watchdog (watchdog.ts) for a stack: if `ownerPid` exits before the stack is torn down, the
// watchdog stops the stack and deletes its directory.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { repoPath } from './paths.ts';
import type { ProcessIdentity } from './proc.ts';
import { startTicksOf } from './proc.ts';

export function guardStack(dir: string, ownerPid: number, logFile: string): ProcessIdentity {
  const log = openSync(logFile, 'a');
  try {
    const watchdog = spawn(
      process.execPath,
      ['--conditions=@taskfleet/source', repoPath('shared/infra/src/watchdog.ts'), String(ownerPid), dir],
      // Own session: a Ctrl-C to the test run's process group must not take the watchdog with it.
      { detached: true, stdio: ['ignore', log, log] },
    );
    watchdog.unref();
    if (watchdog.pid === undefined) throw new Error('could not start the stack watchdog');
    return { pid: watchdog.pid, startTicks: startTicksOf(watchdog.pid) ?? 0 };
  } finally {
    closeSync(log);
  }
}
