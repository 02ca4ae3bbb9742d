// nginx from the repo's own template (nginx/nginx.conf.template), checked with `nginx -t` before start.
// Natively the upstream block includes a file of `server` lines (conf/gateway-servers.conf), so a scale
// of the gateways rewrites that file alone and reloads nginx gracefully (reloadNginx).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StartContext } from '../context.ts';
import { logFile } from '../context.ts';
import { writeFileAtomic } from '../files.ts';
import { repoPath } from '../paths.ts';
import type { ProcessIdentity, StopSpec } from '../proc.ts';
import { childrenOf, isAlive, launch, run, waitFor } from '../proc.ts';
import type { HostPort } from '../state.ts';
import { binary } from '../system.ts';
import { renderTemplate } from '../template.ts';

// SIGQUIT = graceful: finish in-flight requests, then exit.
const STOP: StopSpec = { signal: 'SIGQUIT', group: false, graceMs: 10_000 };

export interface NginxSpec {
  host: string;
  httpPort: number;
  httpsPort: number;
  statusPort: number;
  /** The gateways to balance across; empty until the gateway exists (then the edge answers 503). */
  gateways: HostPort[];
  /** Per-client-address limits at the edge; the defaults are the production ones. */
  limits?: EdgeLimits;
}

export interface EdgeLimits {
  /** nginx rate, e.g. `100r/s` */
  rate: string;
  burst: number;
  connections: number;
}

export const DEFAULT_EDGE_LIMITS: EdgeLimits = { rate: '100r/s', burst: 200, connections: 256 };

/** The server lines of the `upstream gateway` block. With no gateway yet, one server marked down. */
export function gatewayServers(gateways: readonly HostPort[]): string {
  if (gateways.length === 0) return '    server 127.0.0.1:9 down; # no gateway in this stack yet';
  return gateways.map((g) => `    server ${g.host}:${g.port} max_fails=3 fail_timeout=5s;`).join('\n');
}

/** Where the config rendered under `dir` lives, and the nginx command line that uses it. */
export function nginxFiles(
  dir: string,
  logDir = join(dir, 'logs'),
): { args: string[]; confFile: string; serversFile: string; tlsDir: string } {
  const confFile = join(dir, 'conf', 'nginx.conf');
  return {
    args: ['-p', `${dir}/`, '-c', confFile, '-e', join(logDir, 'nginx-error.log')],
    confFile,
    serversFile: join(dir, 'conf', 'gateway-servers.conf'),
    tlsDir: join(dir, 'tls'),
  };
}

/** The upstream block's server lines, replaced whole (temp file + rename): nginx reads them at (re)load. */
export function writeGatewayServers(serversFile: string, gateways: readonly HostPort[]): void {
  writeFileAtomic(serversFile, `${gatewayServers(gateways)}\n`);
}

/** Render the config under `dir` (logs to `logDir`); returns the nginx command line that uses it. */
export function writeNginxConfig(
  dir: string,
  spec: NginxSpec,
  logDir = join(dir, 'logs'),
): { args: string[]; confFile: string; tlsDir: string } {
  const runDir = join(dir, 'run');
  for (const d of [join(dir, 'conf'), runDir, logDir]) mkdirSync(d, { recursive: true });
  const { args, confFile, serversFile, tlsDir } = nginxFiles(dir, logDir);
  writeGatewayServers(serversFile, spec.gateways);
  writeFileSync(
    confFile,
    renderTemplate(readFileSync(repoPath('nginx/nginx.conf.template'), 'utf8'), {
      NGINX_RUN_DIR: runDir,
      NGINX_LOG_DIR: logDir,
      NGINX_GATEWAY_SERVERS: `    include ${serversFile};`,
      NGINX_LISTEN_ADDR: spec.host,
      NGINX_HTTP_PORT: spec.httpPort,
      NGINX_HTTPS_PORT: spec.httpsPort,
      NGINX_TLS_DIR: tlsDir,
      NGINX_STATUS_LISTEN: spec.host,
      NGINX_STATUS_PORT: spec.statusPort,
      NGINX_IP_RATE: (spec.limits ?? DEFAULT_EDGE_LIMITS).rate,
      NGINX_IP_BURST: (spec.limits ?? DEFAULT_EDGE_LIMITS).burst,
      NGINX_IP_CONNECTIONS: (spec.limits ?? DEFAULT_EDGE_LIMITS).connections,
    }),
  );
  return { args, confFile, tlsDir };
}

/** The edge's certificate: made once (self-signed, local use only) by the same script compose uses. */
export async function ensureCertificate(tlsDir: string): Promise<string> {
  await run('sh', [repoPath('nginx/self-signed-cert.sh'), tlsDir]);
  return join(tlsDir, 'tls.crt');
}

/** `nginx -t` on a rendered config; throws with nginx's own message. */
export async function checkNginxConfig(args: readonly string[]): Promise<void> {
  await run(binary('nginx'), [...args, '-t', '-q']);
}

export async function startNginx(ctx: StartContext, spec: NginxSpec): Promise<void> {
  const dir = join(ctx.dir, 'nginx');
  const { args, tlsDir } = writeNginxConfig(dir, spec, ctx.logsDir);
  await ensureCertificate(tlsDir);
  await checkNginxConfig(args);
  const log = logFile(ctx, 'nginx'); // stdout/stderr; nginx writes nginx-error.log beside it
  const proc = launch(binary('nginx'), args, { stack: ctx.dir, logFile: log });
  ctx.record({
    name: 'nginx',
    kind: 'nginx',
    ...proc,
    address: `${spec.host}:${spec.httpPort}`,
    logFile: logFile(ctx, 'nginx-error'),
    stop: STOP,
    stopTier: 0,
  });
  await waitFor(
    'nginx to answer /nginx-health',
    async () => (await fetch(`http://${spec.host}:${spec.httpPort}/nginx-health`)).ok,
    { timeoutMs: 10_000, logFile: logFile(ctx, 'nginx-error'), pid: proc.pid },
  );
  ctx.progress(`nginx up on http://${spec.host}:${spec.httpPort} and https://${spec.host}:${spec.httpsPort}`);
}

export interface ReloadOutcome {
  /** The old workers exited within the bound: nothing is served any more by the config before. */
  drained: boolean;
}

/**
 * Apply a changed config without dropping a request: `nginx -t` first (a bad config throws and the
 * running one stays), then SIGHUP to the master, which starts workers on the new config and lets the
 * old ones finish the requests they are serving, then exit. Resolves once new workers run and, with
 * `drain`, once the old ones are gone too (or the bound passed: `drained` false — a slow client).
 */
export async function reloadNginx(
  master: ProcessIdentity,
  args: readonly string[],
  opts: { drain: boolean; timeoutMs: number },
): Promise<ReloadOutcome> {
  await checkNginxConfig(args);
  if (!isAlive(master.pid, master.startTicks)) throw new Error(`nginx (pid ${master.pid}) is not running`);
  const before = new Set(childrenOf(master.pid));
  process.kill(master.pid, 'SIGHUP');
  const deadline = Date.now() + opts.timeoutMs;
  await waitFor(
    'nginx to start workers on the new config',
    () => childrenOf(master.pid).some((pid) => !before.has(pid)),
    { timeoutMs: opts.timeoutMs, intervalMs: 50 },
  );
  if (!opts.drain) return { drained: false };
  while (Date.now() < deadline) {
    const workers = new Set(childrenOf(master.pid)); // an old worker is gone once the master reaped it
    if (![...before].some((pid) => workers.has(pid))) return { drained: true };
    await sleep(50);
  }
  return { drained: false };
}
