// Every image docker-compose.yml runs, started on its own through testcontainers (its reaper is off
// here — it can't be pulled — so each container is stopped by the test and labelled with this PID for
// the setup to remove if the run dies): it becomes healthy by its own HEALTHCHECK, runs as a non-root
// user, has the Debian package version its Dockerfile pins, and carries no build tools.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { dockerEngineAnswers, repoPath } from '@taskfleet/infra';
import { GenericContainer, Network, type StartedTestContainer, Wait } from 'testcontainers';
import { afterAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const engine = await dockerEngineAnswers();
const LABELS = { 'taskfleet.test-pid': String(process.pid) };

/** One server image, started as the compose file starts it, minus its neighbours. */
interface Case {
  image: string;
  /** Its Dockerfile, the ARG that pins the Debian package, and that package. */
  dockerfile: string;
  pin: { arg: string; pkg: string };
  env?: Record<string, string>;
  /** Files from the repository, by their path in the container (as the compose file mounts them). */
  files?: Record<string, string>;
  directories?: Record<string, string>;
  entrypoint?: string[];
  /** Exporters: a line its /metrics must have (on the port its Dockerfile exposes). */
  metric?: string;
}

const adminPassword = crypto.randomUUID();
const servers: Case[] = [
  {
    image: 'taskfleet/postgres:15.20',
    dockerfile: 'deploy/images/postgres/Dockerfile',
    pin: { arg: 'POSTGRES_VERSION', pkg: 'postgresql-15' },
    env: { POSTGRES_PASSWORD: crypto.randomUUID() },
  },
  {
    image: 'taskfleet/pgbouncer:1.18',
    dockerfile: 'deploy/pgbouncer/Dockerfile',
    pin: { arg: 'PGBOUNCER_VERSION', pkg: 'pgbouncer' },
    env: {
      PGBOUNCER_DATABASES: 'taskfleet = host=127.0.0.1 port=5432 dbname=taskfleet',
      PGBOUNCER_ADMIN_USER: 'postgres',
      PGBOUNCER_ADMIN_PASSWORD: adminPassword,
      PGBOUNCER_APP_USER: 'taskfleet',
      PGBOUNCER_APP_PASSWORD: crypto.randomUUID(),
      PGPASSWORD: adminPassword,
    },
  },
  {
    image: 'taskfleet/redis:7.0.15',
    dockerfile: 'deploy/images/redis/Dockerfile',
    pin: { arg: 'REDIS_VERSION', pkg: 'redis-server' },
  },
  {
    image: 'taskfleet/rabbitmq:3.10.8',
    dockerfile: 'deploy/images/rabbitmq/Dockerfile',
    pin: { arg: 'RABBITMQ_VERSION', pkg: 'rabbitmq-server' },
    env: { RABBITMQ_DEFAULT_USER: 'taskfleet', RABBITMQ_DEFAULT_PASS: crypto.randomUUID() },
  },
  {
    // The compose file's entrypoint and template and a test certificate; no gateway behind it (the
    // health port answers all the same).
    image: 'taskfleet/nginx:1.22.1',
    dockerfile: 'deploy/images/nginx/Dockerfile',
    pin: { arg: 'NGINX_VERSION', pkg: 'nginx-light' },
    files: {
      '/etc/taskfleet/nginx.conf.template': 'nginx/nginx.conf.template',
      '/etc/taskfleet/docker-entrypoint.sh': 'nginx/docker-entrypoint.sh',
    },
    entrypoint: ['/etc/taskfleet/docker-entrypoint.sh'],
  },
  {
    image: 'taskfleet/prometheus:2.42.0',
    dockerfile: 'deploy/images/prometheus/Dockerfile',
    pin: { arg: 'PROMETHEUS_VERSION', pkg: 'prometheus' },
    files: { '/etc/prometheus/prometheus.yml': 'prometheus/compose/prometheus.yml' },
    directories: { '/etc/prometheus/rules': 'prometheus/rules' },
  },
  {
    image: 'taskfleet/alertmanager:0.25.0',
    dockerfile: 'deploy/images/alertmanager/Dockerfile',
    pin: { arg: 'ALERTMANAGER_VERSION', pkg: 'prometheus-alertmanager' },
    files: { '/etc/alertmanager/alertmanager.yml': 'prometheus/alertmanager.yml' },
  },
  // The exporters, alone: healthy by their own listener while the server they watch is away (which
  // they report: pg_up 0, pgbouncer_up 0, redis_up 0). The nginx one needs nginx: a test of its own.
  {
    image: 'taskfleet/postgres-exporter:0.11.1',
    dockerfile: 'deploy/images/postgres-exporter/Dockerfile',
    pin: { arg: 'POSTGRES_EXPORTER_VERSION', pkg: 'prometheus-postgres-exporter' },
    env: { DATA_SOURCE_URI: '127.0.0.1:5432/taskfleet?sslmode=disable', DATA_SOURCE_USER: 'postgres' },
    metric: 'pg_up 0',
  },
  {
    image: 'taskfleet/pgbouncer-exporter:1.7',
    dockerfile: 'deploy/images/pgbouncer-exporter/Dockerfile',
    pin: { arg: 'PGBOUNCER_EXPORTER_VERSION', pkg: 'prometheus-pgbouncer-exporter' },
    env: { PGBOUNCER_HOST: '127.0.0.1', PGBOUNCER_USER: 'postgres' },
    metric: 'pgbouncer_up 0.0',
  },
  {
    image: 'taskfleet/redis-exporter:1.45.0',
    dockerfile: 'deploy/images/redis-exporter/Dockerfile',
    pin: { arg: 'REDIS_EXPORTER_VERSION', pkg: 'prometheus-redis-exporter' },
    env: { REDIS_ADDR: 'redis://127.0.0.1:6379' },
    metric: 'redis_up 0',
  },
  {
    image: 'taskfleet/node-exporter:1.5.0',
    dockerfile: 'deploy/images/node-exporter/Dockerfile',
    pin: { arg: 'NODE_EXPORTER_VERSION', pkg: 'prometheus-node-exporter' },
    metric: 'node_cpu_seconds_total{cpu="0",mode="idle"}',
  },
  {
    // With no users service the probe account waits; the exporter serves all the same.
    image: 'taskfleet/blackbox-exporter:0.23.0',
    dockerfile: 'deploy/images/blackbox-exporter/Dockerfile',
    pin: { arg: 'BLACKBOX_EXPORTER_VERSION', pkg: 'prometheus-blackbox-exporter' },
    files: { '/etc/taskfleet/blackbox.yml.template': 'prometheus/blackbox.yml' },
    metric: 'blackbox_exporter_config_last_reload_successful 1',
  },
];

/** An exporter's /metrics, read inside its container (they publish no port). */
async function metricsInside(c: StartedTestContainer, port: number): Promise<string> {
  const script = `import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:${port}/metrics').read().decode())`;
  const curl = await c.exec(['curl', '-fsS', `http://127.0.0.1:${port}/metrics`]);
  return curl.exitCode === 0 ? curl.output : (await c.exec(['/usr/bin/python3', '-c', script])).output;
}

/** A throwaway certificate for the nginx image, made as `make up` makes the stack's. */
let CERT: { content: string; target: string; mode: number }[] = [];
if (engine) {
  const dir = (await exec('mktemp', ['-d'])).stdout.trim();
  await exec(repoPath('nginx/self-signed-cert.sh'), [dir]);
  CERT = ['tls.crt', 'tls.key'].map((f) => ({
    content: readFileSync(`${dir}/${f}`, 'utf8'),
    target: `/etc/taskfleet/tls/${f}`,
    mode: 0o644,
  }));
  await exec('rm', ['-rf', dir]);
}

/** The container as the compose file would run it (its tmpfs /tmp, its files), labelled as ours. */
function containerOf(spec: Case): GenericContainer {
  const c = new GenericContainer(spec.image)
    .withLabels(LABELS)
    .withTmpFs({ '/tmp': 'rw' })
    .withEnvironment(spec.env ?? {})
    .withCopyFilesToContainer(
      Object.entries(spec.files ?? {}).map(([target, source]) => ({
        source: repoPath(source),
        target,
        mode: 0o755,
      })),
    )
    .withCopyDirectoriesToContainer(
      Object.entries(spec.directories ?? {}).map(([target, source]) => ({
        source: repoPath(source),
        target,
      })),
    )
    .withWaitStrategy(Wait.forHealthCheck())
    .withStartupTimeout(180_000);
  if (spec.image.startsWith('taskfleet/nginx:')) c.withCopyContentToContainer(CERT);
  return spec.entrypoint ? c.withEntrypoint(spec.entrypoint) : c;
}

const pinOf = (dockerfile: string, arg: string) =>
  new RegExp(`^ARG ${arg}=(.+)$`, 'm').exec(readFileSync(repoPath(dockerfile), 'utf8'))?.[1];

const started: StartedTestContainer[] = [];
afterAll(async () => {
  for (const c of started) await c.stop({ timeout: 5_000 }).catch(() => {});
});

const NO_BUILD_TOOLS = 'for t in gcc cc make g++ npm pnpm npx; do command -v $t && exit 1; done; exit 0';

describe.skipIf(!engine)('the images, one by one (testcontainers)', () => {
  it.each(servers)('$image: healthy by its own check, non-root, pinned, no build tools', async (spec) => {
    const c = await containerOf(spec).start();
    started.push(c);
    expect((await c.exec(['id', '-u'])).output.trim()).not.toBe('0');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
    const version = await c.exec(['dpkg-query', '-W', '-f', '${Version}', spec.pin.pkg]);
    expect(version.output.trim()).toBe(pinOf(spec.dockerfile, spec.pin.arg));
    expect((await c.exec(['sh', '-c', NO_BUILD_TOOLS])).output.trim()).toBe('');
    if (spec.metric) {
      const port = Number(/^EXPOSE (\d+)$/m.exec(readFileSync(repoPath(spec.dockerfile), 'utf8'))?.[1]);
      expect(await metricsInside(c, port)).toContain(`\n${spec.metric}`);
    }
    await c.stop({ timeout: 5_000 });
  });

  it("taskfleet/nginx-exporter:0.11.0: reads a real nginx's stub_status, healthy, non-root, pinned", async () => {
    const network = await new Network().start();
    try {
      const nginx = await containerOf(servers.find((s) => s.image.startsWith('taskfleet/nginx:'))!)
        .withNetwork(network)
        .withNetworkAliases('nginx')
        .start();
      started.push(nginx);
      const exporter = await new GenericContainer('taskfleet/nginx-exporter:0.11.0')
        .withLabels(LABELS)
        .withNetwork(network)
        .withEnvironment({ SCRAPE_URI: 'http://nginx:8081/stub_status' })
        .withWaitStrategy(Wait.forHealthCheck())
        .withStartupTimeout(180_000)
        .start();
      started.push(exporter);
      expect((await exporter.exec(['id', '-u'])).output.trim()).not.toBe('0');
      // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
      const format = '${Version}';
      const version = await exporter.exec(['dpkg-query', '-W', '-f', format, 'prometheus-nginx-exporter']);
      expect(version.output.trim()).toBe(
        pinOf('deploy/images/nginx-exporter/Dockerfile', 'NGINX_EXPORTER_VERSION'),
      );
      expect((await exporter.exec(['sh', '-c', NO_BUILD_TOOLS])).output.trim()).toBe('');
      expect(await metricsInside(exporter, 9113)).toMatch(/^nginx_up 1$/m);
      await exporter.stop({ timeout: 5_000 });
      await nginx.stop({ timeout: 5_000 });
    } finally {
      await network.stop();
    }
  });

  it.each([
    'taskfleet/tasks:0.1.0',
    'taskfleet/users:0.1.0',
    'taskfleet/worker:0.1.0',
    'taskfleet/gateway:0.1.0',
    'taskfleet/autoscaler:0.1.0',
  ])('%s: Node of bootstrap.sh, uid 1000, a health check, no npm, pnpm or build tools', async (image) => {
    // Not the service (it needs its servers): one-off shells in the image, to look inside. (Its own
    // health check, inspected below, would fail without the service.)
    const inside = async (script: string) =>
      (
        await exec('docker', [
          'run',
          '--rm',
          '--label',
          `taskfleet.test-pid=${process.pid}`,
          image,
          'sh',
          '-c',
          script,
        ])
      ).stdout.trim();
    const node = readFileSync(repoPath('deploy/node/Dockerfile'), 'utf8');
    expect(await inside('node --version')).toBe(`v${/^ARG NODE_VERSION=(.+)$/m.exec(node)?.[1]}`);
    expect(await inside('id -u')).toBe('1000');
    expect(await inside(NO_BUILD_TOOLS)).toBe('');
    const { stdout } = await exec('docker', [
      'image',
      'inspect',
      '-f',
      '{{json .Config.Healthcheck.Test}}',
      image,
    ]);
    expect(stdout).toContain('/health/ready');
  });
});
