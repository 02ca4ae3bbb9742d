// The docker CLI, pointed at an engine: the host's own (no host) or a Swarm manager's (DOCKER_HOST). The
// swarm tools drive Docker through its CLI, as an operator would, so what they do can be repeated by hand.
import { run } from '../proc.ts';

export interface DockerTarget {
  /** DOCKER_HOST of the engine to talk to (`unix:///…/docker.sock`); unset: the host's own engine. */
  host?: string | undefined;
}

export function docker(
  target: DockerTarget,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<string> {
  const env = { ...process.env, ...opts.env };
  if (target.host) env.DOCKER_HOST = target.host;
  else delete env.DOCKER_HOST;
  return run('docker', args, { env, timeoutMs: opts.timeoutMs ?? 120_000, cwd: opts.cwd });
}

/** `docker … --format '{{json .}}'` output: one JSON object per line. */
export function jsonLines<T>(text: string): T[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

/** Resolves false instead of throwing: for "does it exist" probes. */
export async function succeeds(target: DockerTarget, args: readonly string[]): Promise<boolean> {
  try {
    await docker(target, args, { timeoutMs: 30_000 });
    return true;
  } catch {
    return false;
  }
}
