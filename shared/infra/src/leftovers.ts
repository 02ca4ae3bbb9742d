// Finds processes that belong to a stack, by the TASKFLEET_STACK marker every launched server (and each
// of its children) carries in its environment. Used to prove that nothing outlives `down` or a test run.
import { readdirSync, readFileSync } from 'node:fs';
import { STACK_MARKER } from './proc.ts';

export interface LeftoverProcess {
  pid: number;
  stack: string;
  command: string;
}

/** Live processes whose stack directory starts with `stackPrefix` (a directory or a name prefix). */
export function processesOfStacks(stackPrefix: string): LeftoverProcess[] {
  const found: LeftoverProcess[] = [];
  const marker = `${STACK_MARKER}=`;
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const state = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (/\) [ZX] /.test(state)) continue; // zombies are dead, just not reaped yet
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      const stack = env.find((v) => v.startsWith(marker))?.slice(marker.length);
      if (stack?.startsWith(stackPrefix)) {
        const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
        found.push({ pid, stack, command });
      }
    } catch {
      // exited meanwhile, or not ours to read
    }
  }
  return found;
}
