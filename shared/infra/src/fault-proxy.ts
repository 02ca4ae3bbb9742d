// A TCP proxy for fault tests: clients connect to it instead of a server, and the test cuts the link.
// `partition()` models a network partition — connections stay open but nothing gets through in either
// direction, so clients see timeouts, not errors, and nothing they send reaches the server. `heal()`
// resets the connections that lived through the partition (as a real one ends in TCP resets) and
// forwards again. Unlike stopping or freezing the server, the server keeps running with its state, and
// commands sent during the partition are lost rather than executed late.
import type { Server, Socket } from 'node:net';
import { createConnection, createServer } from 'node:net';

export interface FaultProxy {
  host: string;
  port: number;
  partition(): void;
  heal(): void;
  close(): Promise<void>;
}

export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  let partitioned = false;
  const pairs = new Set<[Socket, Socket]>();

  const server: Server = createServer((client) => {
    const upstream = createConnection(target);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const forward = (from: Socket, to: Socket) =>
      from.on('data', (chunk) => {
        if (!partitioned) to.write(chunk);
      });
    forward(client, upstream);
    forward(upstream, client);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };

  const resetAll = () => {
    for (const [client, upstream] of pairs) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    pairs.clear();
  };
  return {
    host: '127.0.0.1',
    port,
    partition() {
      partitioned = true;
    },
    heal() {
      resetAll();
      partitioned = false;
    },
    async close() {
      resetAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
