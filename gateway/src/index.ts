export { buildGateway } from './app.ts';
export { loadConfig } from './config.ts';
