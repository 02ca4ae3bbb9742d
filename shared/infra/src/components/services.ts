// Taskfleet's own services as local processes (the native stack's answer to the compose services):
// migrations once, then N replicas of each service, each on its own port, ready before we go on. What a
// replica started later needs (scale.ts) is kept in the stack's services/ folder: the environment every
// replica gets, and the upstreams files the gateways read their task and users replicas from.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { importJWK, SignJWT } from 'jose';
import type { StartContext } from '../context.ts';
import { logFile } from '../context.ts';
import { writeFileAtomic } from '../files.ts';
import { repoPath } from '../paths.ts';
import type { StopSpec } from '../proc.ts';
import { launch, run, waitFor } from '../proc.ts';
import type { HostPort } from '../state.ts';

// SIGTERM: readiness goes false, in-flight requests finish, pools close (close-with-grace, ≤10 s after
// the drain window).
const STOP: StopSpec = { signal: 'SIGTERM', group: false, graceMs: 15_000 };

export interface ServiceReplica extends HostPort {
  service: string;
  index: number;
}

/** The services the stack runs, in the order they start. */
export const SERVICES = ['tasks', 'worker', 'users', 'gateway'] as const;
export type ServiceName = (typeof SERVICES)[number];

/**
 * The fixed layout (`make up`, base 21000): replica k of a service listens on base + offset + k − 1,
 * up to MAX_REPLICAS of each, so every replica a scale may start has its port known in advance and
 * the blocks never overlap (docs/native-stack.md).
 */
export const SERVICE_PORT_OFFSETS: Readonly<Record<ServiceName, number>> = {
  tasks: 100,
  worker: 110,
  users: 120,
  gateway: 130,
};
export const MAX_REPLICAS = 8;
/** The highest offset of the layout: base + this must stay below 32768. */
export const LAST_PORT_OFFSET = SERVICE_PORT_OFFSETS.gateway + MAX_REPLICAS - 1;

export function replicaPort(basePort: number, service: ServiceName, index: number): number {
  if (!Number.isInteger(index) || index < 1 || index > MAX_REPLICAS)
    throw new Error(`replica ${index} of ${service}: 1 to ${MAX_REPLICAS} only`);
  return basePort + SERVICE_PORT_OFFSETS[service] + index - 1;
}

export const serviceEntry = (service: ServiceName): string =>
  service === 'gateway' ? 'gateway/src/server.ts' : `services/${service}/src/server.ts`;

export const replicaName = (r: { service: string; index: number }) => `${r.service}-${r.index}`;

const servicesDir = (dir: string) => join(dir, 'services');

/** The file a gateway reads `service`'s replicas from (TASKS_UPSTREAMS_FILE, USERS_UPSTREAMS_FILE). */
export const upstreamsFile = (dir: string, service: 'tasks' | 'users') =>
  join(servicesDir(dir), `${service}.upstreams`);

/** List `replicas` in `service`'s upstreams file; the gateways pick the change up within RESOLVE_INTERVAL_MS. */
export function writeUpstreamsFile(
  dir: string,
  service: 'tasks' | 'users',
  replicas: readonly HostPort[],
): void {
  mkdirSync(servicesDir(dir), { recursive: true });
  const lines = replicas.map((r) => `http://${r.host}:${r.port}`);
  writeFileAtomic(
    upstreamsFile(dir, service),
    `# ${service} replicas, rewritten by the stack runner when it scales (shared/infra/src/scale.ts)\n${lines.join('\n')}\n`,
  );
}

const envFile = (dir: string) => join(servicesDir(dir), 'env.json');

/**
 * Keep the environment the stack gives every service replica (its own settings, the signing key, the
 * test's or benchmark's extras, the OTEL_* variables it passed through), so a replica started by a later
 * scale gets the same. Mode 0600: it holds the development signing key, like auth/.
 */
export function saveServiceEnv(dir: string, env: Record<string, string>): void {
  mkdirSync(servicesDir(dir), { recursive: true });
  const passedThrough = Object.entries(process.env).filter(
    (e): e is [string, string] => e[0].startsWith('OTEL_') && e[1] !== undefined,
  );
  writeFileAtomic(
    envFile(dir),
    `${JSON.stringify({ ...Object.fromEntries(passedThrough), ...env })}\n`,
    0o600,
  );
}

/** The environment saved by saveServiceEnv; undefined for a stack started without services (or before scaling existed). */
export function loadServiceEnv(dir: string): Record<string, string> | undefined {
  try {
    return JSON.parse(readFileSync(envFile(dir), 'utf8')) as Record<string, string>;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export const AUTH_ISSUER = 'taskfleet-users';
export const AUTH_AUDIENCE = 'taskfleet-api';

/**
 * The native stack's signing key (auth/ in the stack dir, mode 0600, never in the repo): the users
 * service signs access tokens with it, the other services verify with its public JWKS, and
 * `taskfleet-stack token` mints tokens with it for trying the API. Generated at first start; local use only.
 */
export function devKeys(dir: string): { jwks: string; privateJwk: Record<string, unknown> } {
  const authDir = join(dir, 'auth');
  const privatePath = join(authDir, 'dev-signing-key.jwk');
  if (!existsSync(privatePath)) {
    mkdirSync(authDir, { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(
      privatePath,
      JSON.stringify({ ...privateKey.export({ format: 'jwk' }), kid: 'native-dev', alg: 'EdDSA' }),
      { mode: 0o600 },
    );
  }
  const privateJwk = JSON.parse(readFileSync(privatePath, 'utf8')) as Record<string, unknown>;
  const { d: _secret, ...publicJwk } = privateJwk;
  return { jwks: JSON.stringify({ keys: [{ ...publicJwk, use: 'sig' }] }), privateJwk };
}

export async function mintDevToken(dir: string, userId: string, ttlSeconds = 3600): Promise<string> {
  const { privateJwk } = devKeys(dir);
  const key = await importJWK(privateJwk, 'EdDSA');
  return new SignJWT({})
    .setProtectedHeader({ alg: 'EdDSA', kid: 'native-dev' })
    .setSubject(userId)
    .setIssuer(AUTH_ISSUER)
    .setAudience(AUTH_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(key);
}

const NODE_ARGS = ['--conditions=@taskfleet/source'];
// A service process loads the tracing SDK before its own modules (shared/service/src/tracing-register.ts).
export const SERVICE_NODE_ARGS = [
  ...NODE_ARGS,
  `--import=${repoPath('shared/service/src/tracing-register.ts')}`,
];

/**
 * The tracing settings of one replica: the OTEL_* variables of the environment pass through unchanged
 * (OpenTelemetry's standard ones); the service's name is its own; and with no trace receiver named
 * (OTEL_EXPORTER_OTLP_ENDPOINT or …_TRACES_ENDPOINT) tracing is off — natively nothing receives
 * traces unless you run one, and spans sent nowhere cost CPU for nothing.
 */
export function tracingEnv(env: Record<string, string | undefined>, service: string): Record<string, string> {
  const receiver = env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  return {
    OTEL_SERVICE_NAME: service,
    ...(env.OTEL_SDK_DISABLED === undefined && !receiver ? { OTEL_SDK_DISABLED: 'true' } : {}),
  };
}

/** Run each service's migrations once (not by every replica at start-up), one service after the other. */
export async function migrateServices(ctx: StartContext, env: Record<string, string>): Promise<void> {
  for (const service of ['tasks', 'users']) {
    const out = await run(
      process.execPath,
      [...NODE_ARGS, repoPath(`services/${service}/src/migrate-cli.ts`)],
      {
        env: { ...process.env, ...env },
      },
    );
    ctx.progress(out.trim().split('\n').at(-1) ?? `${service} migrated`);
  }
}

/** Start one replica with the stack's service environment (over this process's own) and wait until it is ready. */
export async function startServiceReplica(
  ctx: StartContext,
  replica: ServiceReplica,
  entry: string,
  env: Record<string, string>,
  opts: { readyTimeoutMs?: number } = {},
): Promise<void> {
  const name = replicaName(replica);
  const log = logFile(ctx, name);
  const proc = launch(process.execPath, [...SERVICE_NODE_ARGS, repoPath(entry)], {
    stack: ctx.dir,
    logFile: log,
    env: {
      ...process.env,
      ...env,
      ...tracingEnv({ ...process.env, ...env }, replica.service),
      HOST: replica.host,
      PORT: String(replica.port),
    },
  });
  ctx.record({
    name,
    kind: 'service',
    ...proc,
    address: `${replica.host}:${replica.port}`,
    logFile: log,
    // A drain window (SHUTDOWN_DRAIN_MS) comes before the close: the grace covers both.
    stop: { ...STOP, graceMs: STOP.graceMs + (Number(env.SHUTDOWN_DRAIN_MS) || 0) },
    stopTier: 1,
  });
  await waitFor(
    `${name} to be ready`,
    async () => (await fetch(`http://${replica.host}:${replica.port}/health/ready`)).ok,
    {
      // A replica that dies fails at once (pid); a live one may take long on a slow, busy host: seven
      // Node processes (each loading its tracing SDK when on) start at once on two cores.
      timeoutMs: opts.readyTimeoutMs ?? 120_000,
      logFile: log,
      pid: proc.pid,
    },
  );
  ctx.progress(`${name} ready on ${replica.host}:${replica.port}`);
}
