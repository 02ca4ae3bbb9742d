// Test tooling: what a service's loadConfig says about a bad environment.
/**
 * The message of the ConfigError `load` throws (every problem, one per line). Throws itself when `load`
 * accepts the environment or fails with anything but a ConfigError, so a test can't pass by accident.
 */
export function configProblems(load: () => unknown): string {
  try {
    load();
  } catch (err) {
    if ((err as Error).name === 'ConfigError') return (err as Error).message;
    throw new Error(`expected a ConfigError, got ${String(err)}`);
  }
  throw new Error('loadConfig accepted the environment');
}
