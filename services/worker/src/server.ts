import { configOrExit } from '@taskfleet/service';
import closeWithGrace from 'close-with-grace';
import { buildWorker } from './app.ts';
import { loadConfig } from './config.ts';

const config = configOrExit('worker', loadConfig);
const { app, maintain } = await buildWorker(config, { logger: { level: config.LOG_LEVEL } });
closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'fatal error, shutting down');
  else app.log.info({ signal }, 'shutting down');
  await app.close();
});
await app.listen({ host: config.HOST, port: config.PORT });
await maintain().catch((err) => app.log.warn({ err }, 'first maintenance pass failed'));
