import closeWithGrace from 'close-with-grace';
import { buildWorker } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`worker: ${err.message}\n`);
  process.exit(2);
}
const { app, maintain } = await buildWorker(config, { logger: { level: config.LOG_LEVEL } });
closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'fatal error, shutting down');
  else app.log.info({ signal }, 'shutting down');
  await app.close();
});
await app.listen({ host: config.HOST, port: config.PORT });
await maintain().catch((err) => app.log.warn({ err }, 'first maintenance pass failed'));
