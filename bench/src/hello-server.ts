// The proxy ceiling's backend: the smallest Fastify app that answers JSON. nginx → two of these is what
// the framework and the proxy can do on this machine with nothing else in the way.
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/v1/hello', async () => ({ hello: 'world' }));
app.get('/health/ready', async () => ({ status: 'ready' }));

const port = Number(process.env.PORT);
await app.listen({ host: process.env.HOST ?? '127.0.0.1', port });
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void app.close());
