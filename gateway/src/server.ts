// The gateway process: configuration, then the shared way to run a service.
import { configOrExit, serve, serviceLogger } from '@taskfleet/service';
import { buildGateway } from './app.ts';
import { loadConfig } from './config.ts';

const config = configOrExit('gateway', loadConfig);
const app = await buildGateway(config, { logger: serviceLogger(config.LOG_LEVEL) });
await serve(app, {
  host: config.HOST,
  port: config.PORT,
  onShutdown: () => {
    app.gateway.shuttingDown = true;
  },
});
