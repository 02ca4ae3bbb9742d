// Free TCP ports for the servers we start. Always below 32768: 32768–60999 is the kernel's range for
// outgoing connections, where a port can be "in use" with nothing listening on it.
import { createServer } from 'node:net';

const LOW = 20_000;
const HIGH = 32_000;

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
