// Redis without persistence: it holds caches, rate-limit windows and short-lived consistency tokens.
import { Redis } from 'ioredis';
import type { StartContext } from '../context.ts';
import { logFile, serverDir } from '../context.ts';
import type { StopSpec } from '../proc.ts';
import { launch, waitFor } from '../proc.ts';
import type { HostPort } from '../state.ts';
import { binary } from '../system.ts';

const STOP: StopSpec = { signal: 'SIGTERM', group: false, graceMs: 10_000 };

/** One command on a short-lived connection that never retries (probes and administration). */
export async function redisOnce<T>(target: HostPort, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({
    host: target.host,
    port: target.port,
    lazyConnect: true,
    connectTimeout: 2_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

export async function startRedis(ctx: StartContext, spec: HostPort): Promise<void> {
  const dir = serverDir(ctx, 'redis');
  const log = logFile(ctx, 'redis');
  const args = [
    '--bind',
    spec.host,
    '--port',
    String(spec.port),
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
    '--daemonize',
    'no',
    '--logfile',
    '',
    '--maxmemory',
    '256mb',
    // Every key we write has a TTL; evicting among those keeps rate-limit windows safe from cache pressure.
    '--maxmemory-policy',
    'volatile-lru',
  ];
  const proc = launch(binary('redis-server'), args, { stack: ctx.dir, logFile: log });
  ctx.record({
    name: 'redis',
    kind: 'redis',
    ...proc,
    address: `${spec.host}:${spec.port}`,
    logFile: log,
    stop: STOP,
    stopTier: 2,
  });
  await waitFor('redis to answer PING', () => redisOnce(spec, async (r) => (await r.ping()) === 'PONG'), {
    timeoutMs: 10_000,
    logFile: log,
    pid: proc.pid,
  });
  ctx.progress(`redis up on ${spec.host}:${spec.port}`);
}
