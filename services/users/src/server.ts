// The users service process: configuration, logging, graceful shutdown, listen.
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`users: ${err.message}\n`);
  process.exit(2);
}

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
