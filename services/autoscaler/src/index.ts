export { buildApp } from './app.ts';
export type { Config } from './config.ts';
export { ConfigError, loadConfig } from './config.ts';
export type { Driver, Listing, ManagedService, ScaleResult } from './drivers/driver.ts';
export { SwarmDriver } from './drivers/swarm.ts';
export type { Decision, Observation, Outcome, Policy, Reason, ScalerState } from './policy.ts';
export { DEFAULT_POLICY, decide, REASONS } from './policy.ts';
