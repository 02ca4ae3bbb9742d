// The end-to-end suite's native target: a stack of its own (edge-stack.ts), faults by signal to PIDs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { E2eTarget } from './e2e-target.ts';
import { edgeStack, native } from './edge-stack.ts';

export function nativeTarget(opts: { serviceEnv: Record<string, string> }): E2eTarget {
  const stack = edgeStack('e2e', { serviceEnv: opts.serviceEnv });
  return {
    runtime: 'native',
    available: native,
    edge: () => stack.edge,
    https: () => ({
      base: `https://localhost:${stack.state.endpoints.nginx.httpsPort}`,
      ca: readFileSync(join(stack.dir, 'nginx', 'tls', 'tls.crt')),
    }),
    prometheus: () => {
      const { host, port } = stack.state.endpoints.prometheus;
      return `http://${host}:${port}`;
    },
    gatewayMetrics: () =>
      Promise.all([1, 2].map(async (i) => (await fetch(`${stack.serviceUrl('gateway', i)}/metrics`)).text())),
    async crash(service, index) {
      process.kill(stack.pidOf(`${service}-${index}`), 'SIGKILL');
    },
    // Nothing restarts a native process (a service manager would): the other replica carries on.
    whole: async () => {},
    // A server that stops answering without closing its connections: SIGSTOP, then SIGCONT.
    outageKind: 'frozen (SIGSTOP) and resumed',
    async outage(server) {
      const pid = stack.pidOf(server);
      process.kill(-pid, 'SIGSTOP'); // its whole process group (RabbitMQ is beam.smp and helpers)
      return async () => {
        process.kill(-pid, 'SIGCONT');
      };
    },
  };
}
