// Process plumbing for the servers we start: launch detached (own session and process group, output to
// a log file), recognise them again later by PID *and* start time, and stop them by PID or group only.
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface RunAs {
  uid: number;
  gid: number;
}

export interface LaunchOptions {
  /** The stack the process belongs to: set as TASKFLEET_STACK in its environment (see leftovers.ts). */
  stack: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  logFile: string;
  runAs?: RunAs | undefined;
}

/** Identity of a process that survives PID reuse: the PID plus its start time in clock ticks. */
export const STACK_MARKER = 'TASKFLEET_STACK';

export interface ProcessIdentity {
  pid: number;
  startTicks: number;
}

/** Start `command` in a new session (setsid), detached from us, stdout+stderr appended to `logFile`. */
export function launch(command: string, args: readonly string[], opts: LaunchOptions): ProcessIdentity {
  const log = openSync(opts.logFile, 'a');
  try {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      // Inherited by every child (postgres backends, nginx workers, beam.smp) and kept in
      // /proc/PID/environ even when a server rewrites its process title.
      env: { ...(opts.env ?? process.env), [STACK_MARKER]: opts.stack },
      detached: true,
      stdio: ['ignore', log, log],
      ...(opts.runAs ? { uid: opts.runAs.uid, gid: opts.runAs.gid } : {}),
    });
    if (child.pid === undefined) throw new Error(`could not start ${command} (see ${opts.logFile})`);
    child.on('error', () => {}); // reported through the health check and the log file instead
    child.unref();
    return { pid: child.pid, startTicks: startTicksOf(child.pid) ?? 0 };
  } finally {
    closeSync(log);
  }
}

/** Run a command to completion; throws with its output when it fails. */
export async function run(
  command: string,
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; runAs?: RunAs | undefined; timeoutMs?: number } = {},
): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      timeout: opts.timeoutMs ?? 120_000,
      maxBuffer: 16 * 1024 * 1024,
      ...(opts.runAs ? { uid: opts.runAs.uid, gid: opts.runAs.gid } : {}),
    });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `${command} ${args.join(' ')} failed: ${e.message}\n${e.stderr ?? ''}${e.stdout ?? ''}`.trim(),
    );
  }
}

interface ProcStat {
  state: string;
  ppid: number;
  pgrp: number;
  startTicks: number;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp ..." — comm may contain spaces and parentheses: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return {
    state: fields[0] ?? '',
    ppid: Number(fields[1]),
    pgrp: Number(fields[2]),
    startTicks: Number(fields[19]),
  };
}

export function startTicksOf(pid: number): number | undefined {
  return readStat(pid)?.startTicks;
}

/**
 * True when the process exists, is not a zombie (PID 1 here reaps slowly) and, if a start time is
 * given, is the very process we started rather than a later one that reused its PID.
 */
export function isAlive(pid: number, startTicks?: number): boolean {
  const stat = readStat(pid);
  if (!stat || stat.state === 'Z' || stat.state === 'X') return false;
  return !startTicks || stat.startTicks === startTicks;
}

/** Live (non-zombie) members of process group `pgid`. */
export function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (stat && stat.pgrp === pgid && stat.state !== 'Z' && stat.state !== 'X') members.push(pid);
  }
  return members;
}

/** Live (non-zombie) children of `pid` (an nginx master's workers, say). */
export function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const child = Number(entry);
    if (!Number.isInteger(child)) continue;
    const stat = readStat(child);
    if (stat && stat.ppid === pid && stat.state !== 'Z' && stat.state !== 'X') children.push(child);
  }
  return children;
}

export interface StopSpec {
  /** Signal that asks for a clean shutdown (SIGINT = fast shutdown for Postgres, SIGQUIT for nginx). */
  signal: NodeJS.Signals;
  /** Signal the whole process group (launcher scripts that fork the real server). */
  group: boolean;
  /** Re-send the signal this often: some servers lose a signal that arrives while they boot. */
  resendMs?: number;
  /** After this long, SIGKILL. */
  graceMs: number;
}

function signal(pid: number, group: boolean, sig: NodeJS.Signals): void {
  try {
    process.kill(group ? -pid : pid, sig);
  } catch {
    // already gone
  }
}

/** Stop one process (or its group) that we started; resolves once nothing of it is left. */
export async function stopProcess(
  id: ProcessIdentity,
  spec: StopSpec,
): Promise<'stopped' | 'killed' | 'gone'> {
  const alive = () => (spec.group ? groupMembers(id.pid).length > 0 : isAlive(id.pid, id.startTicks));
  if (spec.group) {
    // The leader's PID now belongs to a different process: that group is not ours any more. (Linux keeps
    // a PID unallocated while a group with that id has members, so an orphaned group is still ours.)
    const ticks = startTicksOf(id.pid);
    if (ticks !== undefined && id.startTicks && ticks !== id.startTicks) return 'gone';
  }
  if (!alive()) return 'gone';
  signal(id.pid, spec.group, spec.signal);
  const deadline = Date.now() + spec.graceMs;
  let lastSent = Date.now();
  while (Date.now() < deadline) {
    if (!alive()) return 'stopped';
    if (spec.resendMs && Date.now() - lastSent >= spec.resendMs) {
      signal(id.pid, spec.group, spec.signal);
      lastSent = Date.now();
    }
    await sleep(50);
  }
  signal(id.pid, spec.group, 'SIGKILL');
  for (let i = 0; i < 100 && alive(); i++) await sleep(20);
  return 'killed';
}

/** Poll `probe` until it resolves truthy; throws a message naming `what` (and the log to read) on timeout. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs?: number; intervalMs?: number; logFile?: string; pid?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let lastError: unknown;
  for (;;) {
    try {
      const result = await probe();
      if (result) return result;
    } catch (err) {
      lastError = err;
    }
    if (opts.pid !== undefined && !isAlive(opts.pid)) {
      throw new Error(`${what}: process ${opts.pid} exited during start-up${tail(opts.logFile)}`);
    }
    if (Date.now() > deadline) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out waiting for ${what}${cause}${tail(opts.logFile)}`);
    }
    await sleep(opts.intervalMs ?? 100);
  }
}

function tail(logFile: string | undefined): string {
  if (!logFile) return '';
  try {
    const lines = readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-15);
    return `\n--- last lines of ${logFile} ---\n${lines.join('\n')}`;
  } catch {
    return '';
  }
}

/**
 * Like Promise.all, but waits for every branch before throwing the first failure: a start-up branch
 * that is still launching processes must finish (and record them) before the clean-up stops them.
 */
export async function allSettledOrThrow<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}
