// Every image docker-compose.yml runs, started on its own through testcontainers (its reaper is off
// here — it can't be pulled — so each container is stopped by the test and labelled with this PID for
// the setup to remove if the run dies): it becomes healthy by its own HEALTHCHECK, runs as a non-root
// user, has the Debian package version its Dockerfile pins, and carries no build tools.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { dockerEngineAnswers, repoPath } from '@taskfleet/infra';
import { GenericContainer, type StartedTestContainer, Wait } from 'testcontainers';
import { afterAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const engine = await dockerEngineAnswers();
const LABELS = { 'taskfleet.test-pid': String(process.pid) };

interface Case {
  image: string;
  /** The Dockerfile's pinned Debian package (ARG name) and the package it pins. */
  dockerfile: string;
  pin?: { arg: string; pkg: string };
  prepare?: (c: GenericContainer) => GenericContainer;
}

const servers: Case[] = [
  {
    image: 'taskfleet/postgres:15.20',
    dockerfile: 'deploy/images/postgres/Dockerfile',
    pin: { arg: 'POSTGRES_VERSION', pkg: 'postgresql-15' },
    prepare: (c) => c.withEnvironment({ POSTGRES_PASSWORD: crypto.randomUUID() }).withTmpFs({ '/tmp': 'rw' }),
  },
  {
    image: 'taskfleet/pgbouncer:1.18',
    dockerfile: 'deploy/pgbouncer/Dockerfile',
    pin: { arg: 'PGBOUNCER_VERSION', pkg: 'pgbouncer' },
    prepare: (c) => {
      const password = crypto.randomUUID();
      return c.withEnvironment({
        PGBOUNCER_DATABASES: 'taskfleet = host=127.0.0.1 port=5432 dbname=taskfleet',
        PGBOUNCER_ADMIN_USER: 'postgres',
        PGBOUNCER_ADMIN_PASSWORD: password,
        PGBOUNCER_APP_USER: 'taskfleet',
        PGBOUNCER_APP_PASSWORD: crypto.randomUUID(),
        PGPASSWORD: password,
      });
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
    prepare: (c) =>
      c
        .withEnvironment({ RABBITMQ_DEFAULT_USER: 'taskfleet', RABBITMQ_DEFAULT_PASS: crypto.randomUUID() })
        .withTmpFs({ '/tmp': 'rw' }),
  },
  {
    image: 'taskfleet/nginx:1.22.1',
    dockerfile: 'deploy/images/nginx/Dockerfile',
    pin: { arg: 'NGINX_VERSION', pkg: 'nginx-light' },
    // The compose file's entrypoint and template; no gateway behind it (the health port answers).
    prepare: (c) =>
      c
        .withCopyFilesToContainer([
          { source: repoPath('nginx/nginx.conf.template'), target: '/etc/taskfleet/nginx.conf.template' },
          {
            source: repoPath('nginx/docker-entrypoint.sh'),
            target: '/etc/taskfleet/docker-entrypoint.sh',
            mode: 0o755,
          },
        ])
        .withCopyContentToContainer(CERT)
        .withEntrypoint(['/etc/taskfleet/docker-entrypoint.sh']),
  },
  {
    image: 'taskfleet/prometheus:2.42.0',
    dockerfile: 'deploy/images/prometheus/Dockerfile',
    pin: { arg: 'PROMETHEUS_VERSION', pkg: 'prometheus' },
    prepare: (c) =>
      c
        .withCopyFilesToContainer([
          { source: repoPath('prometheus/compose/prometheus.yml'), target: '/etc/prometheus/prometheus.yml' },
        ])
        .withCopyDirectoriesToContainer([
          { source: repoPath('prometheus/rules'), target: '/etc/prometheus/rules' },
        ]),
  },
  {
    image: 'taskfleet/alertmanager:0.25.0',
    dockerfile: 'deploy/images/alertmanager/Dockerfile',
    pin: { arg: 'ALERTMANAGER_VERSION', pkg: 'prometheus-alertmanager' },
    prepare: (c) =>
      c.withCopyFilesToContainer([
        { source: repoPath('prometheus/alertmanager.yml'), target: '/etc/alertmanager/alertmanager.yml' },
      ]),
  },
];

/** A throwaway certificate for the nginx image test, made as `make up` makes the stack's. */
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

const pinOf = (dockerfile: string, arg: string) =>
  new RegExp(`^ARG ${arg}=(.+)$`, 'm').exec(readFileSync(repoPath(dockerfile), 'utf8'))?.[1];

const started: StartedTestContainer[] = [];
afterAll(async () => {
  for (const c of started) await c.stop({ timeout: 5_000 }).catch(() => {});
});

const NO_BUILD_TOOLS = 'for t in gcc cc make g++ npm pnpm npx; do command -v $t && exit 1; done; exit 0';

describe.skipIf(!engine)('the images, one by one (testcontainers)', () => {
  it.each(servers)('$image: healthy by its own check, non-root, pinned, no build tools', async (spec) => {
    let container = new GenericContainer(spec.image)
      .withLabels(LABELS)
      .withWaitStrategy(Wait.forHealthCheck());
    container = spec.prepare?.(container) ?? container;
    const c = await container.withStartupTimeout(180_000).start();
    started.push(c);
    expect((await c.exec(['id', '-u'])).output.trim()).not.toBe('0');
    if (spec.pin) {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
      const version = await c.exec(['dpkg-query', '-W', '-f', '${Version}', spec.pin.pkg]);
      expect(version.output.trim()).toBe(pinOf(spec.dockerfile, spec.pin.arg));
    }
    expect((await c.exec(['sh', '-c', NO_BUILD_TOOLS])).output.trim()).toBe('');
    await c.stop({ timeout: 5_000 });
  });

  it.each([
    'taskfleet/tasks:0.1.0',
    'taskfleet/users:0.1.0',
    'taskfleet/worker:0.1.0',
    'taskfleet/gateway:0.1.0',
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
