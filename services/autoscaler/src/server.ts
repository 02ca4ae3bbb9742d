// The autoscaler process: the shared way to run a service. Everything else is in app.ts.
import { ConfigError, runService } from '@taskfleet/service';
import { buildApp } from './app.ts';
import { loadConfig } from './config.ts';

try {
  await runService('autoscaler', loadConfig, buildApp);
} catch (err) {
  // The services' policies are checked when the app is built (they come from the orchestrator, not
  // the environment): a bad one is a configuration error too, listed in full, exit 2.
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`autoscaler: ${err.message}\n`);
  process.exit(2);
}
