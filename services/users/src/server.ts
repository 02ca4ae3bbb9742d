// The users service process: configuration, logging, graceful shutdown, listen.
import { configOrExit } from '@taskfleet/service';
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.ts';
import { loadConfig } from './config.ts';

const config = configOrExit('users', loadConfig);

const app = await buildApp(config, {
  logger: {
    level: config.LOG_LEVEL,
    // Passwords and tokens travel in bodies, which are never logged; headers are redacted.
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
  },
});

closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'fatal error, shutting down');
  else app.log.info({ signal }, 'shutting down');
  app.shuttingDown = true;
  await app.close();
});

await app.listen({ host: config.HOST, port: config.PORT });
