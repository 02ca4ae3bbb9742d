// The gateway process: the shared way to run a service. Everything else is in app.ts.
import { runService } from '@taskfleet/service';
import { buildGateway } from './app.ts';
import { loadConfig } from './config.ts';

await runService('gateway', loadConfig, buildGateway);
