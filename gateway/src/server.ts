// The gateway process: configuration, logging, graceful shutdown, listen.
import { configOrExit } from '@taskfleet/service';
import closeWithGrace from 'close-with-grace';
import { buildGateway } from './app.ts';
import { loadConfig } from './config.ts';

const config = configOrExit('gateway', loadConfig);
const app = await buildGateway(config, {
  logger: {
    level: config.LOG_LEVEL,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
  },
});
closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'fatal error, shutting down');
  else app.log.info({ signal }, 'shutting down');
  app.gateway.shuttingDown = true;
  await app.close();
});
await app.listen({ host: config.HOST, port: config.PORT });
