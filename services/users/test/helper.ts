// Builds the users service against this test worker's slice of the real stack, with a signing key made
// for the run.
import { testStack } from '@taskfleet/infra/vitest';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { exportJWK, generateKeyPair } from 'jose';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { migrate } from '../src/db/migrate.ts';

export const stack = testStack();

export async function signingKeySet(kid: string): Promise<string> {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  return JSON.stringify({ keys: [{ ...(await exportJWK(privateKey)), kid }] });
}
export const SIGNING_KEYS = await signingKeySet('test-users-key');

let migrated: Promise<unknown> | undefined;
export function ensureMigrated(): Promise<unknown> {
  migrated ??= migrate(stack.env.DATABASE_MIGRATION_URL!);
  return migrated;
}

export async function buildUsers(overrides: Record<string, string> = {}): Promise<FastifyInstance> {
  await ensureMigrated();
  const app = await buildApp(
    loadConfig({ ...stack.env, AUTH_SIGNING_KEYS: SIGNING_KEYS, LOG_LEVEL: 'silent', ...overrides }),
  );
  await app.ready();
  return app;
}

export const post = (
  app: FastifyInstance,
  url: string,
  payload: unknown,
  opts: Partial<InjectOptions> = {},
) => app.inject({ method: 'POST', url, payload: payload as InjectOptions['payload'], ...opts });

/** A unique address per call (tests share the database of their worker). */
export const uniqueEmail = (tag = 'user') => `${tag}-${crypto.randomUUID()}@example.test`;
export const PASSWORD = 'correct horse battery staple';
