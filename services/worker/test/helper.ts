// The worker against this test worker's slice of the real stack.
import { testStack } from '@taskfleet/infra/vitest';
import { ensureMigrated } from '@taskfleet/tasks/testing';
import type { Worker } from '../src/app.ts';
import { buildWorker } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';

export const stack = testStack();

export async function startWorker(overrides: Record<string, string> = {}): Promise<Worker> {
  await ensureMigrated();
  const worker = await buildWorker(
    loadConfig({
      DATABASE_PRIMARY_URL: stack.env.DATABASE_PRIMARY_URL,
      AMQP_URL: stack.env.AMQP_URL,
      REDIS_URL: stack.env.REDIS_URL,
      REDIS_KEY_PREFIX: stack.prefix,
      RELAY_POLL_MS: '10',
      LOG_LEVEL: 'silent',
      ...overrides,
    }),
  );
  await worker.app.ready();
  return worker;
}

export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  intervalMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
