export { buildApp } from './app.ts';
export { loadConfig } from './config.ts';
export { migrate } from './db/migrate.ts';
export { hashPassword } from './passwords.ts';
