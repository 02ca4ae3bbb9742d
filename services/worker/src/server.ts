// The worker process: configuration, the shared way to run a service, then a first maintenance pass.
import { configOrExit, serve, serviceLogger } from '@taskfleet/service';
import { buildWorker } from './app.ts';
import { loadConfig } from './config.ts';

const config = configOrExit('worker', loadConfig);
const { app, maintain } = await buildWorker(config, { logger: serviceLogger(config.LOG_LEVEL) });
await serve(app, { host: config.HOST, port: config.PORT });
await maintain().catch((err) => app.log.warn({ err }, 'first maintenance pass failed'));
