import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  dockerEngineAnswers,
  freePorts,
  groupMembers,
  isAlive,
  isPortFree,
  launch,
  renderTemplate,
  stopProcess,
} from '../src/index.ts';
import { startTicksOf } from '../src/proc.ts';

// biome-ignore-start lint/suspicious/noTemplateCurlyInString: these strings are templates on purpose
describe('renderTemplate', () => {
  it('fills ${NAME} placeholders and leaves nginx-style $variables alone', () => {
    expect(renderTemplate('listen ${PORT}; set $x $host;', { PORT: 80 })).toBe('listen 80; set $x $host;');
  });
  it('fails on any placeholder without a value, naming all of them', () => {
    expect(() => renderTemplate('${A} ${B} ${A}', {})).toThrow('template needs values for: A, B');
  });
});
// biome-ignore-end lint/suspicious/noTemplateCurlyInString: these strings are templates on purpose

describe('freePorts', () => {
  it('returns distinct bindable ports below the ephemeral range', async () => {
    const ports = await freePorts(20);
    expect(new Set(ports).size).toBe(20);
    for (const p of ports) {
      expect(p).toBeGreaterThanOrEqual(20_000);
      expect(p).toBeLessThan(32_768);
    }
  });
  it('sees a port in use as not free', async () => {
    const server = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as { port: number };
    expect(await isPortFree(port)).toBe(false);
    await new Promise((r) => server.close(r));
    expect(await isPortFree(port)).toBe(true);
  });
});

describe('process identity and stopping', () => {
  it('does not mistake a different process for ours when only the PID matches', () => {
    const ticks = startTicksOf(process.pid)!;
    expect(isAlive(process.pid, ticks)).toBe(true);
    expect(isAlive(process.pid, ticks + 1)).toBe(false);
  });

  it('stops a whole process group, escalating to SIGKILL when the signal is ignored', async () => {
    const log = '/dev/null';
    // A parent that ignores TERM, with a child that ignores TERM too.
    const id = launch('bash', ['-c', "trap '' TERM; (trap '' TERM; sleep 300) & sleep 300"], {
      stack: 'units',
      logFile: log,
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(groupMembers(id.pid).length).toBeGreaterThanOrEqual(2);
    const how = await stopProcess(id, { signal: 'SIGTERM', group: true, graceMs: 500 });
    expect(how).toBe('killed');
    expect(groupMembers(id.pid)).toEqual([]);
  });

  it('reports a process that is already gone', async () => {
    const child = spawn('true');
    await new Promise((r) => child.once('exit', r));
    expect(
      await stopProcess(
        { pid: child.pid!, startTicks: 1 },
        { signal: 'SIGTERM', group: false, graceMs: 100 },
      ),
    ).toBe('gone');
  });
});

describe('dockerEngineAnswers', () => {
  it('agrees with the docker CLI about whether an engine answers here', async () => {
    const cli = await new Promise<boolean>((resolve) => {
      const p = spawn('docker', ['info'], { stdio: 'ignore' });
      p.on('error', () => resolve(false));
      p.on('exit', (code) => resolve(code === 0));
    });
    expect(await dockerEngineAnswers()).toBe(cli);
  });

  it('says no for a socket nobody listens on', async () => {
    const saved = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = 'unix:///nonexistent/docker.sock';
    try {
      expect(await dockerEngineAnswers()).toBe(false);
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
    }
  });
});
