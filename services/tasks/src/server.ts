// The task service process: configuration, logging, graceful shutdown, listen. Everything else is in
// app.ts.
import { configOrExit } from '@taskfleet/service';
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.ts';
import { loadConfig } from './config.ts';

const config = configOrExit('tasks', loadConfig);

const app = await buildApp(config, {
  logger: {
    level: config.LOG_LEVEL,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
    ...(process.stdout.isTTY ? {} : {}),
  },
});

// Readiness goes false at once; in-flight requests finish; pools close. A second signal or 10 s ends it.
closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'fatal error, shutting down');
  else app.log.info({ signal }, 'shutting down');
  app.shuttingDown = true;
  await app.close();
});

await app.listen({ host: config.HOST, port: config.PORT });
