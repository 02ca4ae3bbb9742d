export { buildApp } from './app.ts';
export { loadConfig } from './config.ts';
export { migrate } from './migrate.ts';
export { hashPassword } from './passwords.ts';
