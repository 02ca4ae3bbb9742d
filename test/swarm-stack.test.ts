// deploy/swarm/stack.yml as `docker stack config` reads it (the CLI alone, no engine): the rules of a
// zero-downtime, no-half-deploy Swarm stack (issue 14 §1), and kept in step with the compose stack.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoPath } from '@taskfleet/infra';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { LAB_ENV, STACK_IMAGES } from '../shared/infra/src/swarm/lab.ts';
import { ensureSecrets, SECRET_FILES } from '../shared/infra/src/swarm/secrets.ts';

const exec = promisify(execFile);

interface Service {
  image: string;
  entrypoint?: string[];
  environment?: Record<string, string>;
  secrets?: { source: string; target?: string }[];
  configs?: { source: string; target?: string }[];
  volumes?: { type: string; source?: string }[];
  networks?: Record<string, unknown>;
  healthcheck?: { start_period?: string };
  stop_grace_period?: string;
  deploy?: {
    mode?: string;
    replicas?: number;
    endpoint_mode?: string;
    update_config?: { order?: string; failure_action?: string; monitor?: string };
    rollback_config?: { order?: string };
    resources?: { limits?: { cpus?: string; memory?: string }; reservations?: object };
    placement?: { constraints?: string[]; max_replicas_per_node?: number };
  };
}
interface Stack {
  services: Record<string, Service>;
  networks: Record<string, { driver?: string; internal?: boolean }>;
  secrets: Record<string, { name: string; file: string }>;
  configs: Record<string, { name: string; file: string }>;
}

/** Go durations as the CLI prints them ("1m15s", "30s", "2s") → seconds. */
function seconds(d: string | undefined): number {
  let total = 0;
  for (const [, n, unit] of (d ?? '').matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g))
    total += Number(n) * ({ ms: 0.001, s: 1, m: 60, h: 3600 } as Record<string, number>)[unit as string]!;
  return total;
}

const STATELESS = ['gateway', 'tasks', 'users', 'worker'];
const JOBS = ['tasks-migrate', 'users-migrate'];

describe('deploy/swarm/stack.yml', () => {
  let secretsDir: string;
  let stack: Stack;
  const config = async (env: Record<string, string>) => {
    const { stdout } = await exec('docker', ['stack', 'config', '-c', 'stack.yml'], {
      cwd: repoPath('deploy/swarm'),
      env: { ...process.env, ...env },
    });
    return parse(stdout) as Stack;
  };
  const deployEnv = () => ({
    ...LAB_ENV,
    TASKFLEET_REGISTRY: 'registry.example:5000',
    TASKFLEET_SECRETS_DIR: secretsDir,
    TASKFLEET_SECRETS_VERSION: 's1',
    TASKFLEET_CONFIGS_VERSION: 'c1',
  });

  beforeAll(async () => {
    secretsDir = mkdtempSync(join(tmpdir(), 'taskfleet-swarm-secrets-'));
    await ensureSecrets(secretsDir);
    stack = await config(deployEnv());
  });
  afterAll(() => rmSync(secretsDir, { recursive: true, force: true }));

  it('is refused without the deploy tool’s variables (no registry, secrets or content versions)', async () => {
    await expect(config({})).rejects.toThrow(
      /TASKFLEET_(REGISTRY|SECRETS_DIR|SECRETS_VERSION|CONFIGS_VERSION)/,
    );
  });

  it('runs every image from the registry, and only images the lab pushes', () => {
    for (const [name, s] of Object.entries(stack.services)) {
      expect(s.image, name).toMatch(/^registry\.example:5000\/taskfleet\//);
      expect(STACK_IMAGES, name).toContain(s.image.replace('registry.example:5000/', ''));
    }
  });

  it('rolls stateless services start-first, watched longer than their start period, rolled back on failure', () => {
    for (const name of STATELESS) {
      const d = stack.services[name]!.deploy!;
      expect(d.update_config, name).toMatchObject({ order: 'start-first', failure_action: 'rollback' });
      expect(d.rollback_config?.order, name).toBe('start-first');
      const startPeriod = seconds(stack.services[name]!.healthcheck?.start_period ?? '0s');
      expect(seconds(d.update_config?.monitor), name).toBeGreaterThan(startPeriod);
    }
  });

  it('gives each replica longer to stop than it drains, and drains longer than discovery re-resolves', () => {
    for (const name of ['gateway', 'tasks', 'users']) {
      const s = stack.services[name]!;
      const drainS = Number(s.environment?.SHUTDOWN_DRAIN_MS) / 1000;
      expect(drainS, name).toBeGreaterThan(2 + 2); // nginx's and the gateway's re-resolve intervals + a request
      expect(seconds(s.stop_grace_period), name).toBeGreaterThan(drainS + 5);
    }
  });

  it('pins stateful services by node label and spreads stateless ones', () => {
    for (const [name, s] of Object.entries(stack.services)) {
      const hasVolume = (s.volumes ?? []).some((v) => v.type === 'volume');
      if (hasVolume)
        expect(s.deploy?.placement?.constraints?.join(' '), name).toMatch(/node\.labels\.taskfleet\./);
    }
    for (const name of ['gateway', 'tasks', 'users'])
      expect(stack.services[name]!.deploy?.placement?.max_replicas_per_node, name).toBeGreaterThan(0);
  });

  it('runs the edge as one nginx per edge node on its own ports, replaced stop-first (a port is held)', () => {
    const nginx = stack.services.nginx as Service & { ports: { mode: string }[] };
    expect(nginx.deploy).toMatchObject({ mode: 'global', update_config: { order: 'stop-first' } });
    expect(nginx.deploy?.placement?.constraints).toEqual(['node.labels.taskfleet.edge == true']);
    for (const p of nginx.ports) expect(p.mode).toBe('host');
  });

  it('limits and reserves resources for every long-running service', () => {
    for (const [name, s] of Object.entries(stack.services)) {
      if (JOBS.includes(name)) continue;
      expect(s.deploy?.resources?.limits?.memory, name).toBeTruthy();
      expect(s.deploy?.resources?.limits?.cpus, name).toBeTruthy();
    }
    for (const name of STATELESS)
      expect(stack.services[name]!.deploy?.resources?.reservations, name).toBeTruthy();
  });

  it('runs migrations as Swarm jobs, and every service by DNS round robin (no virtual IP, no IPVS)', () => {
    for (const name of JOBS) expect(stack.services[name]!.deploy?.mode, name).toBe('replicated-job');
    for (const [name, s] of Object.entries(stack.services))
      expect(s.deploy?.endpoint_mode, name).toBe('dnsrr');
  });

  it('keeps passwords out of the service specs: secrets only, read through NAME_FILE', () => {
    const secretish = /PASSWORD|PASS$|SECRET|SIGNING_KEYS|DATABASE_.*URLS?$|AMQP_URL$/;
    for (const [name, s] of Object.entries(stack.services)) {
      for (const [key, value] of Object.entries(s.environment ?? {})) {
        if (key.endsWith('_FILE') || !secretish.test(key)) continue;
        throw new Error(`${name}: ${key} is set in the spec (${value.length} characters); use ${key}_FILE`);
      }
      for (const [key, value] of Object.entries(s.environment ?? {})) {
        if (!key.endsWith('_FILE') || !value.startsWith('/run/secrets/')) continue;
        const secret = value.slice('/run/secrets/'.length);
        expect(
          s.secrets?.map((x) => x.source),
          `${name} ${key}`,
        ).toContain(secret);
        expect(s.entrypoint?.[0], `${name} reads ${key} through secrets-env.sh`).toBe(
          '/run/taskfleet/secrets-env.sh',
        );
      }
    }
    const files = Object.values(stack.secrets).map((s) => s.file.split('/').pop());
    expect(new Set([...files, 'tls.crt'])).toEqual(new Set(SECRET_FILES));
  });

  it('names secrets and configs by their content version, so a changed file is a new object', () => {
    for (const s of Object.values(stack.secrets)) expect(s.name).toMatch(/_s1$/);
    for (const [key, c] of Object.entries(stack.configs))
      expect(c.name, key).toMatch(key === 'tls_crt' ? /_s1$/ : /_c1$/);
  });

  it('mounts every Prometheus rule file, and keeps the data network internal', () => {
    const mounted = stack.services.prometheus!.configs!.map((c) => c.target);
    for (const file of readdirSync(repoPath('prometheus/rules')).filter((f) => f.endsWith('.yml')))
      expect(mounted).toContain(`/etc/prometheus/rules/${file}`);
    expect(stack.networks.data).toMatchObject({ driver: 'overlay', internal: true });
  });
});

describe('deploy/swarm/prometheus.yml', () => {
  type Scrape = { job_name: string; dns_sd_configs?: { names: string[] }[] };
  const read = (path: string) => parse(readFileSync(repoPath(path), 'utf8')) as { scrape_configs: Scrape[] };
  const swarm = read('deploy/swarm/prometheus.yml');
  const compose = read('prometheus/compose/prometheus.yml');

  it('scrapes every replica through tasks.<service>, never a virtual IP', () => {
    for (const job of swarm.scrape_configs)
      for (const sd of job.dns_sd_configs ?? [])
        for (const n of sd.names) expect(n, job.job_name).toMatch(/^tasks\./);
  });

  it('has the compose stack’s jobs (but nginx’s, see the file’s header)', () => {
    const names = (c: { scrape_configs: Scrape[] }) => c.scrape_configs.map((j) => j.job_name).sort();
    expect(names(swarm)).toEqual([...names(compose).filter((n) => n !== 'nginx'), 'autoscaler'].sort());
  });
});
