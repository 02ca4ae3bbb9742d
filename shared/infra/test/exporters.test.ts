// The exporters of the shared test stack (components/exporters.ts): every one scraped and up in the
// stack's own Prometheus, each reading its server (the metric that says so), all on loopback only; and
// the PgBouncer exporter's answer when PgBouncer is away.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { freePorts, launch, repoPath, stopProcess, waitFor } from '../src/index.ts';
import { testStack } from '../src/vitest/index.ts';

const { state } = testStack();
const { prometheus } = state.endpoints;
const api = `http://${prometheus.host}:${prometheus.port}/api/v1`;

const exporter = (name: string) => {
  const c = state.components.find((x) => x.name === name);
  if (!c) throw new Error(`no component ${name} in the test stack`);
  return c;
};
const metrics = async (name: string) => (await fetch(`http://${exporter(name).address}/metrics`)).text();
/** The value of one sample (name and labels exactly as exposed), or undefined. */
const sample = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

interface Series {
  metric: Record<string, string>;
  value: [number, string];
}
async function query(promql: string): Promise<Series[]> {
  const body = (await (await fetch(`${api}/query?query=${encodeURIComponent(promql)}`)).json()) as {
    data: { result: Series[] };
  };
  return body.data.result;
}

const EXPORTER_JOBS = ['blackbox', 'nginx', 'node', 'pgbouncer', 'postgres', 'redis'];

describe('exporters in the native stack', () => {
  it('are all scraped by Prometheus and up, the postgres ones labelled by node', async () => {
    const up = await waitFor(
      'every exporter target to be up',
      async () => {
        const result = await query(`up{job=~"${EXPORTER_JOBS.join('|')}"}`);
        return result.length === 8 && result.every((r) => r.value[1] === '1') ? result : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    const targets = up.map((r) => `${r.metric.job}${r.metric.node ? `/${r.metric.node}` : ''}`).sort();
    expect(targets).toEqual([
      'blackbox',
      'nginx',
      'node',
      'pgbouncer',
      'postgres/primary',
      'postgres/replica1',
      'postgres/replica2',
      'redis',
    ]);
    // A stack without the services has no probe account, so no synthetic probes.
    expect(await query('up{job="synthetic"}')).toEqual([]);
  });

  it('each reads its server: pg_up per node, pgbouncer_up, redis_up, nginx_up, node CPU', async () => {
    for (const node of ['primary', 'replica1', 'replica2']) {
      const text = await metrics(`postgres-exporter-${node}`);
      expect(sample(text, 'pg_up'), node).toBe(1);
      // Our own queries (prometheus/postgres-exporter-queries.yml): each node knows what it is.
      expect(text, node).toMatch(
        new RegExp(`^pg_replication_is_replica\\{[^}]*\\} ${node === 'primary' ? 0 : 1}$`, 'm'),
      );
    }
    const primary = await metrics('postgres-exporter-primary');
    for (const replica of ['replica1', 'replica2'])
      expect(primary).toMatch(
        new RegExp(`^pg_replication_standby_replay_lag_seconds\\{[^}]*standby="${replica}"`, 'm'),
      );
    const pgbouncer = await metrics('pgbouncer-exporter');
    expect(sample(pgbouncer, 'pgbouncer_up')).toBe(1);
    expect(pgbouncer).toMatch(/^pgbouncer_queries_total\{database="taskfleet_primary"\} \d/m);
    expect(pgbouncer).toMatch(
      /^pgbouncer_waiting_clients\{database="taskfleet_replica1",user="taskfleet"\} /m,
    );
    expect(sample(await metrics('redis-exporter'), 'redis_up')).toBe(1);
    expect(sample(await metrics('nginx-exporter'), 'nginx_up')).toBe(1);
    const node = await metrics('node-exporter');
    expect(node).toMatch(/^node_cpu_seconds_total\{cpu="0",mode="idle"\} \d/m);
    // Collectors kept to what the dashboards read: no textfile directory, no systemd.
    expect(node).not.toMatch(/^node_textfile_|^node_systemd_/m);
    expect(await metrics('blackbox-exporter')).toMatch(
      /^blackbox_exporter_config_last_reload_successful 1$/m,
    );
  });

  it('listen on 127.0.0.1 only', () => {
    const exporters = state.components.filter((c) => c.kind === 'exporter');
    expect(exporters).toHaveLength(8);
    // Every listening socket of the kernel (IPv4 and IPv6), by port: an exporter's only one is loopback.
    const listening = ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((file) =>
      readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.trim().split(/\s+/))
        .filter((f) => f[3] === '0A')
        .map((f) => {
          const [ip, port] = f[1]!.split(':');
          return { ip: ip!, port: Number.parseInt(port!, 16) };
        }),
    );
    for (const c of exporters) {
      const port = Number(c.address.split(':')[1]);
      expect(
        listening.filter((s) => s.port === port).map((s) => s.ip),
        c.name,
      ).toEqual(['0100007F']);
    }
  });

  it('the PgBouncer exporter answers pgbouncer_up 0 while PgBouncer is away, then 1 when it is back', async () => {
    const [port, away] = await freePorts(2);
    const { pgbouncer } = state.endpoints;
    const start = (target: number) =>
      launch(
        '/usr/bin/python3',
        [
          repoPath('deploy/images/pgbouncer-exporter/pgbouncer_exporter.py'),
          `--port=${port}`,
          `--pgbouncer-host=${pgbouncer.host}`,
          `--pgbouncer-port=${target}`,
          '--pgbouncer-user=postgres',
        ],
        { stack: state.dir, logFile: '/dev/null' },
      );
    for (const [target, expected] of [
      [away!, 0],
      [pgbouncer.port, 1],
    ] as const) {
      const proc = start(target);
      try {
        const text = await waitFor(
          'the exporter to answer',
          async () => {
            const res = await fetch(`http://127.0.0.1:${port}/metrics`);
            return res.ok ? res.text() : undefined;
          },
          { timeoutMs: 20_000, pid: proc.pid },
        );
        expect(sample(text, 'pgbouncer_up')).toBe(expected);
      } finally {
        await stopProcess(proc, { signal: 'SIGTERM', group: false, graceMs: 5_000 });
      }
    }
  });
});
