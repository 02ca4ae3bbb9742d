// The users service process: the shared way to run a service. Everything else is in app.ts.
import { runService } from '@taskfleet/service';
import { buildApp } from './app.ts';
import { loadConfig } from './config.ts';

await runService('users', loadConfig, buildApp);
