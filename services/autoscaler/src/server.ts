// The autoscaler process: the shared way to run a service. Everything else is in app.ts.
import { ConfigError, runService } from '@taskfleet/service';
import { buildApp } from './app.ts';
import { loadConfig } from './config.ts';
import { OrchestratorUnavailable } from './drivers/driver.ts';

try {
  await runService('autoscaler', loadConfig, buildApp);
} catch (err) {
  // The services' policies are checked when the app is built (they come from the orchestrator, not
  // the environment): a bad one is a configuration error too, listed in full, exit 2. An orchestrator
  // that can't be reached at start is one line and exit 1 (the orchestrator restarts it).
  if (!(err instanceof ConfigError || err instanceof OrchestratorUnavailable)) throw err;
  process.stderr.write(`autoscaler: ${err.message}\n`);
  process.exit(err instanceof ConfigError ? 2 : 1);
}
