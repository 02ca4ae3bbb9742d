export { assertNoProblems, ConfigError, configOrExit, Int, readEnv } from './config.ts';
export { httpMetrics } from './metrics.ts';
export type { Migration, MigrationSet } from './migrate.ts';
export { loadMigrations, migrate } from './migrate.ts';
export type { Problem, ProblemOptions } from './problems.ts';
export { problemDetails, sendProblem } from './problems.ts';
export { serve, serviceLogger } from './server.ts';
export { isDependencyDown } from './unavailable.ts';
