// Liveness is not readiness. /health/live: the process answers (a supervisor restarts it when not).
// /health/ready: it can serve — every critical check passes and it is not shutting down — so balancers
// and orchestrators send it traffic. Checks are declared by the plugin that owns the dependency
// (`app.health.add`), next to the pool or client they probe, and run concurrently, each bounded in time,
// so one hung dependency can't hang the probe.
import fp from 'fastify-plugin';

export interface HealthCheck {
  name: string;
  /** Resolves when healthy, optionally with a detail to show instead of "ok"; throws when not. */
  check: () => Promise<unknown> | unknown;
  /** Readiness needs it. A failing non-critical check is shown as degraded, and the service serves. */
  critical: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    health: { add(check: HealthCheck): void };
    /** True from the first moment of a shutdown (serve/drain): readiness answers 503 from then on. */
    shuttingDown: boolean;
  }
}

export interface HealthOptions {
  /** How long one check may take before it counts as failed. */
  checkTimeoutMs?: number;
}

async function run(check: HealthCheck, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const detail = await Promise.race([Promise.resolve().then(check.check), timeout]);
    return { ok: true, detail: typeof detail === 'string' && detail ? detail : 'ok' };
  } catch (err) {
    return { ok: false, detail: `${check.critical ? 'failing' : 'degraded'}: ${(err as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
}

export const health = fp<HealthOptions>(
  async (app, opts) => {
    const checks: HealthCheck[] = [];
    const timeoutMs = opts.checkTimeoutMs ?? 2_000;
    app.decorate('shuttingDown', false);
    app.decorate('health', {
      add(check: HealthCheck) {
        if (checks.some((c) => c.name === check.name)) throw new Error(`health check ${check.name} twice`);
        checks.push(check);
      },
    });
    // Probed every few seconds: silent unless something is wrong, never rate limited, not in the API docs.
    const route = { logLevel: 'warn', schema: { hide: true }, config: { rateLimit: false } } as const;
    app.get('/health/live', route, async () => ({ status: 'ok' }));
    app.get('/health/ready', route, async (_request, reply) => {
      const results = await Promise.all(checks.map((c) => run(c, timeoutMs)));
      const report: Record<string, string> = { shutdown: app.shuttingDown ? 'in progress' : 'no' };
      checks.forEach((c, i) => {
        report[c.name] = results[i]!.detail;
      });
      const ready = !app.shuttingDown && checks.every((c, i) => !c.critical || results[i]!.ok);
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks: report });
    });
  },
  { name: 'health' },
);
