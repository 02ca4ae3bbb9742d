// What a service process does on SIGTERM (runService): readiness 503 at once, requests still served
// through the drain window — the one in flight included — then a clean exit.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { waitFor } from '@taskfleet/infra';
import { describe, expect, it } from 'vitest';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'slow-service.ts');

describe('a service process on SIGTERM', () => {
  it('answers 503 on ready from the signal on, finishes its in-flight request, serves through the window, exits 0', async () => {
    const child = spawn(process.execPath, ['--conditions=@taskfleet/source', FIXTURE], {
      env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', SHUTDOWN_DRAIN_MS: '5000', SLOW_MS: '3000' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: { msg?: string }[] = [];
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      for (const line of chunk.split('\n').filter(Boolean)) lines.push(JSON.parse(line));
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await waitFor('the fixture listening', () =>
        lines
          .map((l) => /^Server listening at (http:\/\/127\.0\.0\.1:\d+)$/.exec(l.msg ?? '')?.[1])
          .find(Boolean),
      );
      expect((await fetch(`${url}/health/ready`)).status).toBe(200);

      const slow = fetch(`${url}/slow`);
      await waitFor('the slow request in flight', () => lines.some((l) => l.msg === 'slow request started'));
      child.kill('SIGTERM');
      await waitFor('readiness false', async () => (await fetch(`${url}/health/ready`)).status === 503);
      // Still serving in the window: balancers that haven't probed yet lose nothing.
      expect((await fetch(`${url}/health/live`)).status).toBe(200);

      const answer = await slow;
      expect(answer.status).toBe(200);
      expect(await answer.json()).toEqual({ done: true });
      expect(await exited).toBe(0);
      expect(lines.some((l) => l.msg === 'shutting down')).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
