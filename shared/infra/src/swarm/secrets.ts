// The files behind the stack's Swarm secrets (deploy/swarm/stack.yml): made once, random, mode 0600, in a
// directory outside the repository; never printed. `make swarm-secrets DIR=…` makes the missing ones —
// an operator may put their own there instead (their TLS certificate, say); existing files are kept.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoPath } from '../paths.ts';
import { run } from '../proc.ts';

/** Every file the stack's `secrets:` (and the TLS certificate config) read, by file name. */
export const SECRET_FILES = [
  'postgres_password',
  'taskfleet_db_password',
  'replication_password',
  'rabbitmq_password',
  'database_primary_url',
  'database_replica_urls',
  'database_migration_url',
  'amqp_url',
  'jwt_signing_keys',
  'tls.key',
  'tls.crt',
] as const;

const password = () => randomBytes(24).toString('base64url');

/** Make the secret files that are missing in `dir`; returns the names it made. */
export async function ensureSecrets(dir: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const made: string[] = [];
  const put = (name: string, value: () => string) => {
    const path = join(dir, name);
    if (existsSync(path) && readFileSync(path, 'utf8').trim() !== '') return;
    writeFileSync(path, value(), { mode: 0o600 });
    made.push(name);
  };
  const read = (name: string) => readFileSync(join(dir, name), 'utf8').trim();

  put('postgres_password', password);
  put('taskfleet_db_password', password);
  put('replication_password', password);
  put('rabbitmq_password', password);
  // The services take whole URLs; they are made from the passwords above (change both together).
  const app = () => encodeURIComponent(read('taskfleet_db_password'));
  put('database_primary_url', () => `postgres://taskfleet:${app()}@pgbouncer:6432/taskfleet_primary`);
  put('database_replica_urls', () =>
    ['replica1', 'replica2']
      .map((r) => `postgres://taskfleet:${app()}@pgbouncer:6432/taskfleet_${r}`)
      .join(','),
  );
  // Migrations go to the primary directly: the runner holds a session advisory lock (PgBouncer pools
  // transactions).
  put('database_migration_url', () => `postgres://taskfleet:${app()}@postgres-primary:5432/taskfleet`);
  put(
    'amqp_url',
    () => `amqp://taskfleet:${encodeURIComponent(read('rabbitmq_password'))}@rabbitmq:5672/taskfleet`,
  );
  put('jwt_signing_keys', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const kid = `swarm-${randomBytes(4).toString('hex')}`;
    return JSON.stringify({ keys: [{ ...privateKey.export({ format: 'jwk' }), kid, alg: 'EdDSA' }] });
  });
  if (!existsSync(join(dir, 'tls.crt')) || !existsSync(join(dir, 'tls.key'))) {
    // Self-signed, for trying things out; put the real certificate and key there for anything else.
    await run('sh', [repoPath('nginx/self-signed-cert.sh'), dir]);
    made.push('tls.crt', 'tls.key');
  }
  chmodSync(join(dir, 'tls.key'), 0o600);
  return made;
}

/** The secret files that are missing or empty in `dir` (a deploy refuses to start with any). */
export function missingSecrets(dir: string): string[] {
  return SECRET_FILES.filter((name) => {
    const path = join(dir, name);
    return !existsSync(path) || readFileSync(path, 'utf8').trim() === '';
  });
}
