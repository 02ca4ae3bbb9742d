export type { BuildOptions } from './app.ts';
export { buildApp } from './app.ts';
export type { Config } from './config.ts';
export { ConfigError, loadConfig } from './config.ts';
export { migrate } from './db/migrate.ts';
export { TasksErrors } from './errors.ts';
export { createTaskQuery, GET_TASK_SQL } from './tasks-repository.ts';
