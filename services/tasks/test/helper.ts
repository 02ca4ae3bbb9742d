// Builds the task service against this worker's slice of the real test stack, with a signing key of
// its own standing in for the users service.
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { guardStack, queryOnce, startExtraReplica, stopStack } from '@taskfleet/infra';
import { testStack } from '@taskfleet/infra/vitest';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { migrate } from '../src/db/migrate.ts';

export const stack = testStack();

const issuer = 'taskfleet-users';
const audience = 'taskfleet-api';
const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key', alg: 'EdDSA', use: 'sig' };
export const JWKS = JSON.stringify({ keys: [jwk] });

let migrated: Promise<unknown> | undefined;
/** Migrations run once per worker database (the runner is idempotent and locked anyway). */
export function ensureMigrated(): Promise<unknown> {
  migrated ??= migrate(stack.env.DATABASE_MIGRATION_URL!);
  return migrated;
}

export function testEnv(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...stack.env, AUTH_JWKS: JWKS, REDIS_KEY_PREFIX: stack.prefix, LOG_LEVEL: 'silent', ...overrides };
}

export async function build(overrides: Record<string, string> = {}): Promise<FastifyInstance> {
  await ensureMigrated();
  const app = await buildApp(loadConfig(testEnv(overrides)));
  await app.ready();
  return app;
}

export interface TokenOptions {
  key?: Parameters<SignJWT['sign']>[0];
  issuer?: string;
  audience?: string;
  expiresIn?: string | number;
  alg?: string;
}

export async function tokenFor(userId: string, opts: TokenOptions = {}): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: opts.alg ?? 'EdDSA', kid: 'test-key' })
    .setSubject(userId)
    .setIssuer(opts.issuer ?? issuer)
    .setAudience(opts.audience ?? audience)
    .setIssuedAt()
    .setExpirationTime(opts.expiresIn ?? '5m')
    .sign(opts.key ?? privateKey);
}

/** A fresh user (random id) with a valid token, and an inject() that sends it. */
export async function newUser(app: FastifyInstance) {
  const id = randomUUID();
  const token = await tokenFor(id);
  const call = (opts: InjectOptions): Promise<LightMyRequestResponse> =>
    app.inject({ ...opts, headers: { authorization: `Bearer ${token}`, ...(opts.headers ?? {}) } });
  return { id, token, call };
}

const { primary } = stack.state.endpoints.postgres;
const admin = { ...primary, password: stack.state.endpoints.postgres.adminPassword };

/**
 * A streaming replica of our own (the shared ones serve other test files), for a test to pause or stop;
 * `url` reaches it directly as the app role, `direct` as the superuser.
 */
export async function extraReplica(suffix: string) {
  const name = `extra_w${stack.worker}_${suffix}`;
  const dir = join(stack.state.dir, name);
  mkdirSync(dir, { recursive: true });
  guardStack(dir, process.pid, join(dir, 'watchdog.log'));
  const replica = await startExtraReplica({ parent: stack.state, dir, name });
  const url = `postgres://${stack.state.endpoints.postgres.appUser}@${replica.replica.host}:${replica.replica.port}/${stack.database}`;
  return {
    name,
    url,
    direct: {
      host: replica.replica.host,
      port: replica.replica.port,
      user: 'postgres',
      database: stack.database,
    },
    async stop() {
      await stopStack(dir);
      await queryOnce(
        admin,
        'select pg_drop_replication_slot($1) from pg_replication_slots where slot_name = $1',
        [name],
      );
    },
  };
}
