// RabbitMQ as a private node: own Erlang cookie, own epmd, loopback-only listeners. Vhosts and users
// come from a definitions file imported at boot, so there is no rabbitmqctl round-trip (≈1 s each).
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';
import type { StartContext } from '../context.ts';
import { logFile, serverDir } from '../context.ts';
import type { StopSpec } from '../proc.ts';
import { launch, waitFor } from '../proc.ts';
import type { HostPort } from '../state.ts';
import { binary } from '../system.ts';

const RABBITMQ_BIN = '/usr/lib/rabbitmq/bin'; // the real scripts; the /usr/sbin wrappers su and redirect

// The launcher script forwards TERM to beam.smp, but a TERM in the first second of boot is lost:
// signal the whole group and re-send until it is gone.
const STOP: StopSpec = { signal: 'SIGTERM', group: true, resendMs: 2_000, graceMs: 30_000 };
const EPMD_STOP: StopSpec = { signal: 'SIGTERM', group: false, graceMs: 5_000 };

export interface RabbitmqSpec extends HostPort {
  distPort: number;
  epmdPort: number;
  prometheusPort: number;
  vhosts: string[];
  /** Local-only credentials (RabbitMQ accepts them from loopback only); compose takes them from .env. */
  user: string;
  password: string;
}

export function amqpUrl(spec: HostPort & { user: string; password: string }, vhost: string): string {
  return `amqp://${encodeURIComponent(spec.user)}:${encodeURIComponent(spec.password)}@${spec.host}:${spec.port}/${encodeURIComponent(vhost)}`;
}

/** RabbitMQ's rabbit_password_hashing_sha256: base64(salt ‖ sha256(salt ‖ password)). */
function passwordHash(password: string): string {
  const salt = randomBytes(4);
  const digest = createHash('sha256')
    .update(Buffer.concat([salt, Buffer.from(password, 'utf8')]))
    .digest();
  return Buffer.concat([salt, digest]).toString('base64');
}

function definitions(spec: RabbitmqSpec) {
  return {
    users: [
      {
        name: spec.user,
        password_hash: passwordHash(spec.password),
        hashing_algorithm: 'rabbit_password_hashing_sha256',
        tags: ['administrator'],
      },
    ],
    vhosts: spec.vhosts.map((name) => ({ name })),
    permissions: spec.vhosts.map((vhost) => ({
      user: spec.user,
      vhost,
      configure: '.*',
      write: '.*',
      read: '.*',
    })),
  };
}

export async function startRabbitmq(
  ctx: StartContext,
  spec: RabbitmqSpec,
): Promise<{ ready: Promise<void> }> {
  const dir = serverDir(ctx, 'rabbitmq');
  const home = serverDir(ctx, 'rabbitmq', 'home');
  writeFileSync(join(home, '.erlang.cookie'), randomBytes(24).toString('hex'), { mode: 0o400, flag: 'w' });
  writeFileSync(join(dir, 'definitions.json'), JSON.stringify(definitions(spec), null, 2));
  writeFileSync(
    join(dir, 'rabbitmq.conf'),
    [
      `listeners.tcp.default = ${spec.host}:${spec.port}`,
      `prometheus.tcp.ip = ${spec.host}`,
      `prometheus.tcp.port = ${spec.prometheusPort}`,
      `load_definitions = ${join(dir, 'definitions.json')}`,
      'log.console = false',
      'log.file.level = warning',
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'enabled_plugins'), '[rabbitmq_prometheus].\n');
  writeFileSync(join(dir, 'rabbitmq-env.conf'), '');
  const nodeName = `taskfleet_${spec.port}@localhost`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    LANG: 'C.UTF-8',
    HOME: home,
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_NODE_IP_ADDRESS: spec.host,
    RABBITMQ_NODE_PORT: String(spec.port),
    // Mandatory: without it the node derives the distribution port from the AMQP port and crashes.
    RABBITMQ_DIST_PORT: String(spec.distPort),
    ERL_EPMD_PORT: String(spec.epmdPort),
    ERL_EPMD_ADDRESS: spec.host,
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
    RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_MNESIA_BASE: serverDir(ctx, 'rabbitmq', 'mnesia'),
    RABBITMQ_LOG_BASE: ctx.logsDir,
    RABBITMQ_PID_FILE: join(dir, 'beam.pid'),
  };
  // Our own epmd in the foreground, so we own its PID (a daemonised epmd would outlive everything).
  const epmdLog = logFile(ctx, 'epmd');
  const epmd = launch(binary('epmd'), ['-port', String(spec.epmdPort), '-address', spec.host], {
    stack: ctx.dir,
    logFile: epmdLog,
    env,
  });
  ctx.record({
    name: 'epmd',
    kind: 'epmd',
    ...epmd,
    address: `${spec.host}:${spec.epmdPort}`,
    logFile: epmdLog,
    stop: EPMD_STOP,
    stopTier: 5,
  });

  const log = logFile(ctx, 'rabbitmq');
  const proc = launch(join(RABBITMQ_BIN, 'rabbitmq-server'), [], {
    stack: ctx.dir,
    logFile: log,
    env,
    cwd: dir,
  });
  ctx.record({
    name: 'rabbitmq',
    kind: 'rabbitmq',
    ...proc,
    address: `${spec.host}:${spec.port}`,
    logFile: log,
    stop: STOP,
    stopTier: 2,
  });
  ctx.progress(`rabbitmq launched (node ${nodeName})`);

  // Boot takes ≈5 s: hand back a promise so the rest of the stack starts meanwhile.
  const lastVhost = spec.vhosts.at(-1) ?? '/';
  const ready = waitFor(
    'rabbitmq to accept AMQP connections',
    async () => {
      const conn = await amqp.connect(amqpUrl(spec, lastVhost), { timeout: 2_000 });
      conn.on('error', () => {});
      await conn.close();
      return true;
    },
    { timeoutMs: 90_000, intervalMs: 250, logFile: log, pid: proc.pid },
  ).then(() => ctx.progress(`rabbitmq up on ${spec.host}:${spec.port} (${spec.vhosts.length} vhosts)`));
  ready.catch(() => {}); // observed by the caller; avoid an unhandled rejection before it awaits
  return { ready };
}
