export type { Span } from '@opentelemetry/api';
export type { BearerOptions, KeySource, Verdict } from './bearer.ts';
export { BearerVerifier, bearerAuth, jwksFromText, jwksFromUrl } from './bearer.ts';
export type { RedisOptions } from './clients.ts';
export { postgresPool, redisClient } from './clients.ts';
export { assertNoProblems, ConfigError, configOrExit, Int, readEnv } from './config.ts';
export type { ServiceDefaultsOptions } from './defaults.ts';
export { serviceDefaults } from './defaults.ts';
export type { CommonErrors } from './errors.ts';
export { commonErrors, isDependencyDown, Overloaded } from './errors.ts';
export type { HealthCheck } from './health.ts';
export { idempotencyKeyOf, keyDigest, REPLAYED_HEADER, requestFingerprint } from './idempotency.ts';
export type { Migration, MigrationSet } from './migrate.ts';
export { loadMigrations, migrate } from './migrate.ts';
export type { Problem, ProblemOptions } from './problems.ts';
export { classify, ProblemSchema, sendProblem } from './problems.ts';
export type { ServerSettings } from './server.ts';
export { drain, runService, serviceLogger, serviceOptions } from './server.ts';
export type { PostgresSettings } from './settings.ts';
export {
  amqpSettings,
  commaList,
  loadSettings,
  postgresSettings,
  redisSettings,
  serverSettings,
} from './settings.ts';
export { traceContextOf, traceIdOf } from './telemetry.ts';
export { activeSpan, activeTraceparent, inSpan, inTraceOf, tracer, tracingEnabled } from './tracing.ts';
export type { VerifiedClaims } from './verified-tokens.ts';
export { VerifiedTokens } from './verified-tokens.ts';
