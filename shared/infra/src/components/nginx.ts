// nginx from the repo's own template (nginx/nginx.conf.template), checked with `nginx -t` before start.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StartContext } from '../context.ts';
import { logFile } from '../context.ts';
import { repoPath } from '../paths.ts';
import type { StopSpec } from '../proc.ts';
import { launch, run, waitFor } from '../proc.ts';
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

/** Render the config under `dir` (logs to `logDir`); returns the nginx command line that uses it. */
export function writeNginxConfig(
  dir: string,
  spec: NginxSpec,
  logDir = join(dir, 'logs'),
): { args: string[]; confFile: string; tlsDir: string } {
  const confDir = join(dir, 'conf');
  const runDir = join(dir, 'run');
  for (const d of [confDir, runDir, logDir]) mkdirSync(d, { recursive: true });
  const confFile = join(confDir, 'nginx.conf');
  const tlsDir = join(dir, 'tls');
  writeFileSync(
    confFile,
    renderTemplate(readFileSync(repoPath('nginx/nginx.conf.template'), 'utf8'), {
      NGINX_RUN_DIR: runDir,
      NGINX_LOG_DIR: logDir,
      NGINX_GATEWAY_SERVERS: gatewayServers(spec.gateways),
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
  return { args: ['-p', `${dir}/`, '-c', confFile, '-e', join(logDir, 'nginx-error.log')], confFile, tlsDir };
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
