// The end-to-end suite (../support/e2e-suite.ts) on docker-compose.yml — the images built here, the
// compose command and health wait of `make up` — plus what only the container runtime has: scaling by
// `--scale` with discovery through Docker's DNS, and `down -v` leaving nothing behind.
import {
  compose,
  containerLogs,
  dockerEngineAnswers,
  newAccount,
  projectContainers,
  projectLeftovers,
  waitFor,
} from '@taskfleet/infra';
import { describe, expect, it } from 'vitest';
import { e2eSuite } from '../support/e2e-suite.ts';
import { composeTarget } from '../support/e2e-target.ts';

const engine = await dockerEngineAnswers();
const target = composeTarget({ tag: 'e2e', engine });

/** Requests a service replica answered on its API routes (not health or metrics), from its /metrics. */
const served = (metrics: string) =>
  [...metrics.matchAll(/^http_request_duration_seconds_count\{[^}]*route="\/v1[^"]*"[^}]*\} (\d+)/gm)].reduce(
    (n, m) => n + Number(m[1]),
    0,
  );
const metricsOf = (service: string, index: number) => target.metricsOf(service, index);

/** Wait until Prometheus's active targets are exactly this many healthy replicas per job. */
async function scrapedReplicas(wanted: Record<string, number>): Promise<void> {
  const seen = async () => {
    const res = await fetch(`${target.prometheus()}/api/v1/targets?state=active`);
    const { data } = (await res.json()) as {
      data: { activeTargets: { labels: { job: string }; health: string }[] };
    };
    return Object.fromEntries(
      Object.keys(wanted).map((job) => [
        job,
        data.activeTargets.filter((t) => t.labels.job === job && t.health === 'up').length,
      ]),
    );
  };
  let last: Record<string, number> = {};
  await waitFor(
    `Prometheus to scrape ${JSON.stringify(wanted)}`,
    async () => {
      last = await seen();
      return Object.entries(wanted).every(([job, n]) => last[job] === n);
    },
    { timeoutMs: 60_000, intervalMs: 500 },
  ).catch((err: Error) => {
    throw new Error(`${err.message}; it scrapes ${JSON.stringify(last)}`);
  });
}

// First: its account is made before the suite's last test spends this address's login budget.
describe.skipIf(!engine)('scaling docker-compose.yml without editing a file', () => {
  it('scales out under load (new replicas take traffic within 15 s of being healthy) and back in with 0 errors', async () => {
    // Steady load under the per-user limit (60 a minute here): six users, each reading every 1.2 s.
    const users = await Promise.all(Array.from({ length: 6 }, () => newAccount(target.edge(), 'scale')));
    let stop = false;
    let requests = 0;
    const failures: string[] = [];
    const reader = async ({ auth }: { auth: Record<string, string> }) => {
      const created = await fetch(`${target.edge()}/v1/tasks`, {
        method: 'POST',
        body: JSON.stringify({ title: 'scaled' }),
        headers: { ...auth, 'content-type': 'application/json' },
      });
      const { id } = (await created.json()) as { id: string };
      while (!stop) {
        const res = await fetch(`${target.edge()}/v1/tasks/${id}`, { headers: auth });
        if (res.status !== 200) failures.push(`${res.status} ${await res.text()}`);
        else await res.body?.cancel();
        requests++;
        await new Promise((r) => setTimeout(r, 1_200));
      }
    };
    const load = Promise.all(users.map(reader));
    try {
      await compose(
        target.project,
        ['up', '-d', '--no-recreate', '--scale', 'tasks=4', '--scale', 'gateway=3'],
        {
          quiet: true,
        },
      );
      const fresh = [
        ['gateway', 3],
        ['tasks', 3],
        ['tasks', 4],
      ] as const;
      const discovery: string[] = [];
      for (const [service, index] of fresh) {
        const name = await target.containerName(service, index);
        // Healthy first (start-up time is the machine's), then discovered: that part is ours.
        let healthyAt = 0;
        for (let i = 0; ; i++) {
          const c = (await projectContainers(target.project.name)).find(
            (x) => x.service === service && x.index === index,
          );
          if (!healthyAt && c?.health === 'healthy') healthyAt = performance.now();
          if (healthyAt && served(await metricsOf(service, index)) > 0) break;
          if (healthyAt && performance.now() - healthyAt > 15_000) {
            const nginx = await containerLogs(await target.containerName('nginx', 1), 200);
            throw new Error(
              `${name} took no request within 15 s of being healthy; nginx saw:\n${nginx
                .split('\n')
                .filter((l) => l.includes('gateways now'))
                .join('\n')}`,
            );
          }
          if (i > 1_200) throw new Error(`${name} never became healthy`);
          await new Promise((r) => setTimeout(r, 250));
        }
        discovery.push(`${name} ${((performance.now() - healthyAt) / 1000).toFixed(1)} s`);
      }
      process.stderr.write(`scale out: first request after healthy: ${discovery.join(', ')}\n`);
      // Prometheus scrapes every replica, found through Docker's DNS (refresh 5 s, scrape 5 s).
      await scrapedReplicas({ tasks: 4, gateway: 3 });
      const before = requests;
      await compose(
        target.project,
        ['up', '-d', '--no-recreate', '--scale', 'tasks=2', '--scale', 'gateway=2'],
        {
          quiet: true,
        },
      );
      const left = await projectContainers(target.project.name);
      expect(left.filter((c) => c.service === 'tasks').length).toBe(2);
      expect(left.filter((c) => c.service === 'gateway').length).toBe(2);
      // Traffic went on through the scale-in, and some more after it.
      const after = requests;
      while (requests < after + 12) await new Promise((r) => setTimeout(r, 50));
      expect(after).toBeGreaterThan(before);
      await scrapedReplicas({ tasks: 2, gateway: 2 });
    } finally {
      stop = true;
      await load;
    }
    expect(failures).toEqual([]);
  }, 300_000);
});

e2eSuite(target);

describe.skipIf(!engine)('tracing in the images, with no trace receiver', () => {
  // Jaeger's image can't be pulled here, so the services' spans have nowhere to go: the whole suite
  // above ran with the SDK on (compose's defaults, one trace in ten) and every request was answered.
  it('loads the SDK in every Node image and counts the spans it could not deliver', async () => {
    const total = (metrics: string, name: string) =>
      [...metrics.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'gm'))].reduce(
        (n, m) => n + Number(m[1]),
        0,
      );
    // Sampled requests went through the gateways; their spans are dropped once the export fails.
    await waitFor(
      'a gateway to count dropped spans',
      async () => (await target.gatewayMetrics()).some((m) => total(m, 'tracing_spans_dropped_total') > 0),
      { timeoutMs: 120_000 },
    );
    for (const m of await target.gatewayMetrics()) expect(total(m, 'tracing_spans_exported_total')).toBe(0);
  });
});

// Last: it takes the stack down.
describe.skipIf(!engine)('docker compose down -v', () => {
  it('leaves no container, network or volume of the project', async () => {
    await compose(target.project, ['down', '-v', '--remove-orphans', '-t', '10'], { quiet: true });
    expect(await projectLeftovers(target.project.name)).toEqual([]);
  });
});
