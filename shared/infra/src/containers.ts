// The test stack on a Docker engine: the repo's docker-compose.yml (plus a test override that publishes
// every server on a random 127.0.0.1 port) through testcontainers, whose reaper removes the containers
// if the test run dies. Used only when an engine answers; otherwise the same servers run as local
// processes (stack.ts). Both hand the tests the same StackState.
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { StartedDockerComposeEnvironment } from 'testcontainers';
import { DockerComposeEnvironment, Wait } from 'testcontainers';
import { pgbouncerDatabase, SESSION_LIMITS } from './components/pgbouncer.ts';
import { ADMIN_USER, APP_USER, queryOnce } from './components/postgres.ts';
import { REPO_ROOT } from './paths.ts';
import type { StackState } from './state.ts';

const NODES = ['primary', 'replica1', 'replica2'] as const;

/** True when a Docker engine answers on its socket (≈1–10 ms; false at once when there is none). */
export function dockerEngineAnswers(timeoutMs = 1_000): Promise<boolean> {
  const host = process.env.DOCKER_HOST;
  if (host && !host.startsWith('unix://')) return Promise.resolve(true); // tcp/ssh: let testcontainers try
  const socketPath = host ? host.slice('unix://'.length) : '/var/run/docker.sock';
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

const secret = () => randomBytes(18).toString('hex');

export async function startContainerStack(opts: {
  databases: string[];
  vhosts: string[];
  projectName: string;
}): Promise<{ state: StackState; stop: () => Promise<void> }> {
  const pgHost = (node: string) => (node === 'primary' ? 'postgres-primary' : `postgres-${node}`);
  const secrets = {
    POSTGRES_PASSWORD: secret(),
    TASKFLEET_DB_PASSWORD: secret(),
    REPLICATION_PASSWORD: secret(),
    RABBITMQ_USER: 'taskfleet',
    RABBITMQ_PASSWORD: secret(),
    GRAFANA_ADMIN_PASSWORD: secret(),
  };
  const environment = await new DockerComposeEnvironment(REPO_ROOT, [
    'docker-compose.yml',
    'deploy/compose/docker-compose.test.yml',
  ])
    .withProjectName(opts.projectName)
    .withBuild()
    .withEnvironment({
      ...secrets,
      TASKFLEET_HTTP_ADDR: '127.0.0.1',
      TASKFLEET_HTTP_PORT: '0',
      RABBITMQ_UI_PORT: '0',
      PROMETHEUS_PORT: '0',
      ALERTMANAGER_PORT: '0',
      GRAFANA_PORT: '0',
      TEST_PGBOUNCER_DATABASES: opts.databases
        .flatMap((db) =>
          NODES.map(
            (n) => `${pgbouncerDatabase(db, n)} = host=${pgHost(n)} port=5432 dbname=${db} ${SESSION_LIMITS}`,
          ),
        )
        .join('\n'),
    })
    .withDefaultWaitStrategy(Wait.forHealthCheck())
    .withStartupTimeout(180_000)
    .up();
  const stop = async () => {
    await environment.down({ removeVolumes: true, timeout: 10_000 });
  };
  try {
    const state = stateOf(environment, opts, secrets);
    await provision(state, opts, environment);
    return { state, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function stateOf(
  env: StartedDockerComposeEnvironment,
  opts: { databases: string[]; vhosts: string[] },
  secrets: Record<string, string>,
): StackState {
  const at = (service: string, port: number) => {
    const c = env.getContainer(`${service}-1`);
    return { host: c.getHost(), port: c.getMappedPort(port) };
  };
  const nginx = env.getContainer('nginx-1');
  return {
    version: 1,
    runtime: 'containers',
    dir: '',
    ownerPid: process.pid,
    createdAt: new Date().toISOString(),
    databases: opts.databases,
    vhosts: opts.vhosts,
    components: [], // containers: the testcontainers reaper owns their lifecycle
    endpoints: {
      postgres: {
        primary: at('postgres-primary', 5432),
        replicas: (['replica1', 'replica2'] as const).map((name) => ({
          name,
          ...at(`postgres-${name}`, 5432),
        })),
        adminUser: ADMIN_USER,
        appUser: APP_USER,
        adminPassword: secrets.POSTGRES_PASSWORD!,
        appPassword: secrets.TASKFLEET_DB_PASSWORD!,
      },
      pgbouncer: at('pgbouncer', 6432),
      redis: at('redis', 6379),
      rabbitmq: {
        ...at('rabbitmq', 5672),
        user: secrets.RABBITMQ_USER!,
        password: secrets.RABBITMQ_PASSWORD!,
        prometheusPort: at('rabbitmq', 15692).port,
      },
      nginx: {
        host: nginx.getHost(),
        httpPort: nginx.getMappedPort(8080),
        httpsPort: nginx.getMappedPort(8443),
        statusPort: nginx.getMappedPort(8081),
      },
      prometheus: at('prometheus', 9090),
      alertmanager: at('alertmanager', 9093),
    },
  };
}

/** Per-worker databases (owned by the app role) and vhosts, as the native stack creates them. */
async function provision(
  state: StackState,
  opts: { databases: string[]; vhosts: string[] },
  env: StartedDockerComposeEnvironment,
): Promise<void> {
  const { primary, adminPassword } = state.endpoints.postgres;
  for (const db of opts.databases) {
    const exists = await queryOnce(
      { ...primary, password: adminPassword },
      'select 1 from pg_database where datname = $1',
      [db],
    );
    if (exists.rowCount === 0)
      await queryOnce({ ...primary, password: adminPassword }, `create database ${db} owner ${APP_USER}`);
  }
  const rabbit = env.getContainer('rabbitmq-1');
  for (const vhost of opts.vhosts) {
    const add = await rabbit.exec(['rabbitmqctl', 'add_vhost', vhost]);
    if (add.exitCode !== 0 && !/already exists/.test(add.output))
      throw new Error(`add_vhost ${vhost}: ${add.output}`);
    const perm = await rabbit.exec([
      'rabbitmqctl',
      'set_permissions',
      '-p',
      vhost,
      state.endpoints.rabbitmq.user,
      '.*',
      '.*',
      '.*',
    ]);
    if (perm.exitCode !== 0) throw new Error(`set_permissions ${vhost}: ${perm.output}`);
  }
}
