// What every Taskfleet service has, in one plugin registered first by each app.ts (after dotnet/eShop's
// ServiceDefaults): problem+json errors, one access-log line per request, HTTP metrics and /metrics,
// /health/live and /health/ready from declared checks, the shutdown flag readiness follows, and trace
// context (telemetry.ts). Services add only what is theirs: checks, metrics, routes.
import fp from 'fastify-plugin';
import { accessLog } from './access-log.ts';
import type { CommonErrors } from './errors.ts';
import { health } from './health.ts';
import { httpMetrics } from './metrics.ts';
import { problemDetails } from './problems.ts';
import { telemetry } from './telemetry.ts';

export interface ServiceDefaultsOptions {
  /** The service's error table (commonErrors(prefix) and its own): its prefix names every code. */
  errors: CommonErrors;
  /** How long one readiness check may take. */
  checkTimeoutMs?: number;
}

/** "TASKS" from TASKS_ERR_INTERNAL: the prefix is the table's, never typed twice. */
const prefixOf = (errors: CommonErrors) => new errors.INTERNAL().code.replace(/_ERR_INTERNAL$/, '');

export const serviceDefaults = fp<ServiceDefaultsOptions>(
  async (app, opts) => {
    await app.register(telemetry);
    await app.register(problemDetails, {
      prefix: prefixOf(opts.errors),
      errors: opts.errors,
      bodyLimit: app.initialConfig.bodyLimit ?? 1_048_576,
    });
    await app.register(accessLog);
    await app.register(httpMetrics);
    await app.register(health, { checkTimeoutMs: opts.checkTimeoutMs });
  },
  { name: 'service-defaults' },
);
