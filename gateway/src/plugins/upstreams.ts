// The replicas of the services behind the gateway (upstreams.ts): one group per service, resolved and
// re-resolved from DNS (the list of names from the environment, or from a file the native stack's
// runner rewrites when it scales), with their metrics and readiness checks — the gateway can serve while each
// service has a replica whose circuit is not open.

import { commaList } from '@taskfleet/service';
import fp from 'fastify-plugin';
import { Counter, Gauge } from 'prom-client';
import type { Config } from '../config.ts';
import type { ProxyOptions } from '../proxy.ts';
import { readUpstreamsFile, UpstreamGroup } from '../upstreams.ts';

declare module 'fastify' {
  interface FastifyInstance {
    upstreams: { tasks: UpstreamGroup; users: UpstreamGroup };
    /** Retries, timeouts and accounting of every forwarded request (proxy.ts). */
    proxyOptions: ProxyOptions;
  }
}

/** gateway_circuit_breaker_state's values: growing with how much of a replica's traffic is held back. */
const BREAKER_STATE = { closed: 0, 'half-open': 1, open: 2 } as const;
/** host:port of a replica's origin (`http://10.0.1.7:3000`), the port kept even when it is 80. */
const addressOf = (origin: string) => origin.replace(/^https?:\/\//, '');

export default fp<{ config: Config }>(
  async (app, { config }) => {
    const group = (service: string, list: string | undefined, file: string | undefined) =>
      new UpstreamGroup({
        service,
        // loadConfig saw to it that exactly one of the two is set.
        baseUrls: file ? () => readUpstreamsFile(file) : commaList(list ?? ''),
        resolveIntervalMs: config.RESOLVE_INTERVAL_MS,
        connectTimeoutMs: config.CONNECT_TIMEOUT_MS,
        connections: config.UPSTREAM_CONNECTIONS,
        breaker: { failures: config.BREAKER_FAILURES, openMs: config.BREAKER_OPEN_MS },
        onError: (err) => app.log.warn({ err }, 'resolving upstreams failed'),
      });
    const groups = [
      group('tasks', config.TASKS_UPSTREAMS, config.TASKS_UPSTREAMS_FILE),
      group('users', config.USERS_UPSTREAMS, config.USERS_UPSTREAMS_FILE),
    ] as const;
    const [tasks, users] = groups;
    app.decorate('upstreams', { tasks, users });
    await Promise.all(groups.map((g) => g.start()));
    app.addHook('onClose', async () => {
      await Promise.all(groups.map((g) => g.close()));
    });

    const registers = [app.metricsRegistry];
    const upstreamRequests = new Counter({
      name: 'gateway_upstream_requests_total',
      help: 'Requests to upstream services by outcome (ok, retried on another replica, failed)',
      labelNames: ['service', 'outcome'],
      registers,
    });
    new Gauge({
      name: 'gateway_upstream_open_circuits',
      help: 'Replicas whose circuit breaker is open (skipped), by service',
      labelNames: ['service'],
      registers,
      collect() {
        for (const g of groups)
          this.set({ service: g.service }, g.upstreams.filter((u) => u.state === 'open').length);
      },
    });
    new Gauge({
      name: 'gateway_circuit_breaker_state',
      help: 'Circuit breaker of each replica (upstream = its address): 0 closed, 1 half-open, 2 open',
      labelNames: ['service', 'upstream'],
      registers,
      collect() {
        // From scratch each scrape: replicas that left DNS leave no stale series behind.
        this.reset();
        for (const g of groups)
          for (const u of g.upstreams)
            this.set({ service: g.service, upstream: addressOf(u.origin) }, BREAKER_STATE[u.state]);
      },
    });
    app.decorate('proxyOptions', {
      retries: config.RETRIES,
      timeoutMs: config.UPSTREAM_TIMEOUT_MS,
      onAttempt: (service, outcome) => upstreamRequests.inc({ service, outcome }),
    } satisfies ProxyOptions);

    for (const g of groups) {
      app.health.add({
        name: g.service,
        critical: true,
        check: () => {
          const available = g.upstreams.filter((u) => u.state !== 'open').length;
          if (available === 0) throw new Error(`none of ${g.upstreams.length} replicas available`);
          return `${available} of ${g.upstreams.length} replicas available`;
        },
      });
    }
  },
  { name: 'upstreams', dependencies: ['http-metrics', 'health'] },
);
