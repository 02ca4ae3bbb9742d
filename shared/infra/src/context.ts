import { chownSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { RunAs } from './proc.ts';
import type { ComponentRecord } from './state.ts';

/** What every component starter gets from the stack runner. */
export interface StartContext {
  /** The stack's own directory: data, configs, state.json; logs in `logsDir`. */
  dir: string;
  logsDir: string;
  /** OS user for servers that refuse root (Postgres, PgBouncer); undefined when we are not root. */
  serverUser: RunAs | undefined;
  /** 'fast' (fsync off) for throwaway test stacks only; benchmarks and `make up` use 'full'. */
  durability: 'full' | 'fast';
  /** Record a launched process in state.json at once, so that `down` finds it even if start-up fails. */
  record(component: ComponentRecord): void;
  progress(message: string): void;
}

export function logFile(ctx: StartContext, name: string): string {
  return join(ctx.logsDir, `${name}.log`);
}

/** mkdir -p, owned by the server user when there is one. */
export function serverDir(ctx: StartContext, ...parts: string[]): string {
  let path = ctx.dir;
  for (const part of parts) {
    path = join(path, part);
    mkdirSync(path, { recursive: true, mode: 0o700 });
    if (ctx.serverUser) chownSync(path, ctx.serverUser.uid, ctx.serverUser.gid);
  }
  return path;
}
