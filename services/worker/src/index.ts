export type { Worker } from './app.ts';
export { buildApp, buildWorker } from './app.ts';
export type { Config } from './config.ts';
export { ConfigError, loadConfig } from './config.ts';
export { OutboxRelay } from './jobs/relay.ts';
