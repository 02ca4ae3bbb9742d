// `make up|down|status|clean` on the docker runtime: the same commands as the native stack's, for
// docker-compose.yml. `up` creates .env (random secrets) and the self-signed certificate when missing,
// builds the missing images, adds the `upstream` profile (Grafana, Jaeger) only when its images can be
// had, starts the stack, waits until every container is healthy and prints the addresses.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readFileSync, statSync } from 'node:fs';
import {
  buildImages,
  type ComposeProject,
  type ContainerStatus,
  compose,
  projectContainers,
  publishedPort,
  waitHealthy,
} from './compose.ts';
import { dockerEngineAnswers } from './containers.ts';
import { repoPath } from './paths.ts';
import { run } from './proc.ts';

/** Grafana, Jaeger, Loki and Alloy: not in Debian, so only from a registry (or already loaded into the engine). */
const UPSTREAM_IMAGES = [
  'grafana/grafana:11.3.1',
  'jaegertracing/jaeger:2.21.0',
  'grafana/loki:3.5.3',
  'grafana/alloy:v1.10.2',
];
/** The user nginx runs as in taskfleet/nginx (Debian's www-data). */
const NGINX_GID = 33;

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);
const started = Date.now();
const progress = (m: string) =>
  err(`[compose ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${m}`);

const project = (profiles: string[] = []): ComposeProject => ({
  name: process.env.COMPOSE_PROJECT_NAME ?? 'taskfleet',
  profiles,
});

export async function composeMain(command: string, opts: { json: boolean; purge: boolean }): Promise<number> {
  if (!(await dockerEngineAnswers(5_000))) {
    err(
      'docker runtime: no Docker engine answers (start one: scripts/docker-engine.sh ensure, or RUNTIME=native)',
    );
    return 1;
  }
  switch (command) {
    case 'up':
      return up();
    case 'down':
    case 'clean': {
      // Every profile, so containers of one that is not active now are removed too.
      const volumes = command === 'clean' || opts.purge;
      await compose(project(['upstream']), ['down', '--remove-orphans', ...(volumes ? ['-v'] : [])]);
      progress(
        volumes ? 'stack removed with its volumes' : 'stack stopped (volumes kept; make clean removes them)',
      );
      return 0;
    }
    case 'status': {
      const containers = await projectContainers(project().name);
      if (opts.json) out(JSON.stringify({ runtime: 'docker', project: project().name, containers }, null, 2));
      else printStatus(containers);
      return containers.length > 0 && containers.every((c) => c.oneShot || c.health === 'healthy') ? 0 : 3;
    }
    default:
      err(`${command}: not available on the docker runtime (up, down, status, clean)`);
      return 2;
  }
}

async function up(): Promise<number> {
  for (const [what, script, ...args] of [
    ['settings', 'scripts/ensure-env.sh'],
    ['certificate', 'nginx/self-signed-cert.sh', '.certs'],
  ] as const) {
    const r = spawnSync(repoPath(script), args, { cwd: repoPath('.'), stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`${what}: ${script} failed`);
  }
  tlsKeyReadableByNginx(repoPath('.certs/tls.key'));
  progress('building the images that are missing (deploy/images/build.sh --missing)');
  await buildImages({ missingOnly: true });
  const profiles = (await upstreamImagesAvailable()) ? ['upstream'] : [];
  if (profiles.length === 0)
    out(
      `grafana, jaeger, loki, alloy: not started (their upstream images ${UPSTREAM_IMAGES.join(', ')} cannot be pulled here); everything else runs`,
    );
  progress('starting docker-compose.yml');
  await compose({ ...project(profiles), env: tracingSettings(profiles.length > 0) }, [
    'up',
    '-d',
    '--remove-orphans',
  ]);
  const containers = await waitHealthy(project().name, { timeoutMs: 10 * 60_000, onProgress: progress });
  progress('every container is healthy');
  printStatus(containers);
  printAddresses(containers);
  return 0;
}

/**
 * Without Jaeger nothing receives the services' spans: tracing off, unless the environment (or .env, which
 * compose reads after this) names a receiver of its own or decides itself.
 */
function tracingSettings(jaeger: boolean): Record<string, string> {
  const decided = ['OTEL_SDK_DISABLED', 'OTEL_EXPORTER_OTLP_ENDPOINT'].some(
    (name) => process.env[name] !== undefined || dotEnvHas(name),
  );
  return jaeger || decided ? {} : { OTEL_SDK_DISABLED: 'true' };
}

const dotEnvHas = (name: string) =>
  existsSync(repoPath('.env')) &&
  new RegExp(`^\\s*${name}=`, 'm').test(readFileSync(repoPath('.env'), 'utf8'));

/** The self-signed key is made 0600 for its owner; nginx (gid 33) must read it, and nobody else. */
function tlsKeyReadableByNginx(key: string): void {
  const st = statSync(key);
  if (st.gid === NGINX_GID && (st.mode & 0o040) !== 0) return;
  if (process.getuid?.() === 0) {
    chownSync(key, st.uid, NGINX_GID);
    chmodSync(key, 0o640);
    return;
  }
  throw new Error(
    `nginx runs as gid ${NGINX_GID} and can't read ${key}: sudo chgrp ${NGINX_GID} ${key} && sudo chmod 640 ${key}`,
  );
}

async function upstreamImagesAvailable(): Promise<boolean> {
  for (const image of UPSTREAM_IMAGES) {
    const present = await run('docker', ['image', 'inspect', image]).then(
      () => true,
      () => false,
    );
    if (present) continue;
    progress(`pulling ${image}`);
    const pulled = await run('docker', ['pull', '-q', image], { timeoutMs: 120_000 }).then(
      () => true,
      () => false,
    );
    if (!pulled) return false;
  }
  return true;
}

function printStatus(containers: ContainerStatus[]): void {
  if (containers.length === 0) {
    out(`no containers of project ${project().name}`);
    return;
  }
  out(`${'NAME'.padEnd(34)} ${'SERVICE'.padEnd(18)} ${'STATE'.padEnd(24)} ${'ADDRESS'.padEnd(15)} PUBLISHED`);
  for (const c of containers) {
    const state = c.oneShot
      ? `${c.state} (exit ${c.exitCode})`
      : `${c.state}${c.health === 'none' ? '' : `, ${c.health}`}${c.restarts ? `, ${c.restarts} restarts` : ''}`;
    out(
      `${c.name.padEnd(34)} ${c.service.padEnd(18)} ${state.padEnd(24)} ${c.address.padEnd(15)} ${c.ports.join(' ')}`,
    );
  }
}

function printAddresses(containers: ContainerStatus[]): void {
  const first = (service: string) => containers.find((c) => c.service === service);
  const port = (service: string, inside: string) => {
    const c = first(service);
    return c ? publishedPort(c, inside) : undefined;
  };
  out('');
  out(`the API:       https://localhost:${port('nginx', '8443/tcp')}  (curl --cacert .certs/tls.crt)`);
  out(`               http://localhost:${port('nginx', '8080/tcp')}`);
  out(`prometheus:    http://127.0.0.1:${port('prometheus', '9090/tcp')}`);
  out(`alertmanager:  http://127.0.0.1:${port('alertmanager', '9093/tcp')}`);
  out(`rabbitmq UI:   http://127.0.0.1:${port('rabbitmq', '15672/tcp')}  (user and password in .env)`);
  if (first('grafana'))
    out(`grafana:       http://127.0.0.1:${port('grafana', '3000/tcp')}  (admin, password in .env)`);
  if (first('jaeger')) out(`jaeger:        http://127.0.0.1:${port('jaeger', '16686/tcp')}`);
  out('logs:          docker compose logs -f SERVICE (or docker-compose)   (stop with: make down)');
}
