// Where the server binaries live, and installing them from Debian when they are missing.
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunAs } from './proc.ts';
import { run } from './proc.ts';

/** Debian package → a binary it provides (absolute, or looked up on PATH + sbin dirs). */
const PACKAGES = {
  'postgresql-15': '/usr/lib/postgresql/15/bin/postgres',
  pgbouncer: 'pgbouncer',
  'redis-server': 'redis-server',
  'rabbitmq-server': '/usr/lib/rabbitmq/bin/rabbitmq-server',
  nginx: 'nginx',
  prometheus: 'prometheus',
  'prometheus-alertmanager': 'prometheus-alertmanager',
  // The exporters (components/exporters.ts). The PgBouncer one is Python: its package brings psycopg2
  // and prometheus_client, which deploy/images/pgbouncer-exporter/pgbouncer_exporter.py runs on.
  'prometheus-postgres-exporter': 'prometheus-postgres-exporter',
  'prometheus-pgbouncer-exporter': 'prometheus-pgbouncer-exporter',
  'prometheus-redis-exporter': 'prometheus-redis-exporter',
  'prometheus-nginx-exporter': 'prometheus-nginx-exporter',
  'prometheus-node-exporter': 'prometheus-node-exporter',
  'prometheus-blackbox-exporter': 'prometheus-blackbox-exporter',
} as const;

export type SystemPackage = keyof typeof PACKAGES;
export const ALL_PACKAGES = Object.keys(PACKAGES) as SystemPackage[];

const SEARCH_DIRS = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Absolute path of a binary, or undefined. */
export function which(binary: string): string | undefined {
  if (binary.startsWith('/')) return isExecutable(binary) ? binary : undefined;
  for (const dir of SEARCH_DIRS) {
    if (dir && isExecutable(join(dir, binary))) return join(dir, binary);
  }
  return undefined;
}

export function binary(name: string): string {
  const path = which(name);
  if (!path) throw new Error(`${name} not found; run "make deps" (installs the Debian packages) first`);
  return path;
}

/** Directory of the newest installed PostgreSQL server binaries. */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    if (isExecutable(join(root, v, 'bin', 'postgres'))) return join(root, v, 'bin');
  }
  throw new Error('PostgreSQL server binaries not found; run "make deps" first');
}

export function missingPackages(wanted: readonly SystemPackage[] = ALL_PACKAGES): SystemPackage[] {
  return wanted.filter((pkg) => !which(PACKAGES[pkg]));
}

/**
 * Install missing Debian packages. As root this runs apt-get; otherwise it fails with the exact command
 * to run, because silently half-starting a stack is worse than stopping here.
 */
export async function ensurePackages(wanted: readonly SystemPackage[] = ALL_PACKAGES): Promise<void> {
  const missing = missingPackages(wanted);
  if (missing.length === 0) return;
  const command = `apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (process.getuid?.() !== 0) {
    throw new Error(`missing Debian packages: ${missing.join(', ')}. Install them as root: ${command}`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await run('apt-get', ['update', '-qq'], { env, timeoutMs: 600_000 });
  await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
    env,
    timeoutMs: 900_000,
  });
  const still = missingPackages(wanted);
  if (still.length > 0) throw new Error(`apt-get did not provide: ${still.join(', ')}`);
}

/**
 * Postgres and PgBouncer refuse to run as root: when we are root they run as the `postgres` OS user
 * (created by the Debian package). Otherwise everything runs as ourselves.
 */
export function serverUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) {
    throw new Error(
      'running as root needs the "postgres" OS user (from the postgresql package) to run Postgres',
    );
  }
  return { uid: Number(uid), gid: Number(gid) };
}
