// The users service process: configuration, then the shared way to run a service.
import { configOrExit, serve, serviceLogger } from '@taskfleet/service';
import { buildApp } from './app.ts';
import { loadConfig } from './config.ts';

const config = configOrExit('users', loadConfig);
const app = await buildApp(config, { logger: serviceLogger(config.LOG_LEVEL) });
await serve(app, {
  host: config.HOST,
  port: config.PORT,
  onShutdown: () => {
    app.shuttingDown = true;
  },
});
