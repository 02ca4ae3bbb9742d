// Free TCP ports for the servers we start. Always below 32768: 32768–60999 is the kernel's range for
// outgoing connections, where a port can be "in use" with nothing listening on it.
import { createServer } from 'node:net';

const LOW = 20_000;
const HIGH = 32_000;

/**
 * Base ports of the test suite's fixed-layout stacks (`make up`'s layout: base … base+137 with every
 * replica a scale may add, so 200 apart). Above the range freePorts() draws from, so the random ports
 * of concurrent test stacks never land on them, and a block each, so the files holding them never
 * collide either. Below 32768, like every port here (the last block ends at 32737).
 */
export const TEST_BASE_PORTS = {
  lifecycle: 32_000,
  watchdog: 32_200,
  bench: 32_400,
  scaling: 32_600,
} as const;

/** True when nothing listens on host:port and we may bind it. */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * `count` distinct free ports, starting from a random point so that concurrent runs rarely collide.
 * (There is a window between this check and the server's bind; start-up reports a clear error then.)
 */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const ports: number[] = [];
  let candidate = LOW + Math.floor(Math.random() * (HIGH - LOW));
  for (let tried = 0; ports.length < count && tried < HIGH - LOW; tried++) {
    candidate = candidate + 1 >= HIGH ? LOW : candidate + 1;
    if (await isPortFree(candidate, host)) ports.push(candidate);
  }
  if (ports.length < count) throw new Error(`could not find ${count} free ports in ${LOW}-${HIGH}`);
  return ports;
}
