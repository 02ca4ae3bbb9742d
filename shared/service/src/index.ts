export type { Migration, MigrationSet } from './migrate.ts';
export { loadMigrations, migrate } from './migrate.ts';
export type { Problem, ProblemOptions } from './problems.ts';
export { problemDetails, sendProblem } from './problems.ts';
