// The task service process: configuration, then the shared way to run a service. Everything else is
// in app.ts.
import { configOrExit, serve, serviceLogger } from '@taskfleet/service';
import { buildApp } from './app.ts';
import { loadConfig } from './config.ts';

const config = configOrExit('tasks', loadConfig);
const app = await buildApp(config, { logger: serviceLogger(config.LOG_LEVEL) });
await serve(app, {
  host: config.HOST,
  port: config.PORT,
  onShutdown: () => {
    app.shuttingDown = true; // readiness false first, so balancers stop sending
  },
});
