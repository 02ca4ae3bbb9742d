// Liveness (the process answers) is not readiness (it can serve: the primary answers, and it is not
// shutting down). Readiness turns false first thing on shutdown so balancers stop routing here.
import type { FastifyPluginAsync } from 'fastify';

declare module 'fastify' {
  interface FastifyInstance {
    /** Set by server.ts on shutdown; decorated on the root (app.ts), where server.ts sets it. */
    shuttingDown: boolean;
  }
}

const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get('/health/live', { schema: { hide: true }, logLevel: 'warn' }, async () => ({ status: 'ok' }));
  app.get('/health/ready', { schema: { hide: true }, logLevel: 'warn' }, async (_request, reply) => {
    const checks: Record<string, string> = { shutdown: app.shuttingDown ? 'in progress' : 'no' };
    try {
      await app.db.primary.query('select 1');
      checks.primary = 'ok';
    } catch {
      checks.primary = 'unreachable';
    }
    // Degraded but serving: without Redis, reads of recent writers go to the primary.
    checks.redis = app.db.redis.status === 'ready' ? 'ok' : 'unavailable (degraded)';
    checks.replicasInRotation = String(app.db.router.replicas.filter((r) => r.inRotation).length);
    const ready = !app.shuttingDown && checks.primary === 'ok';
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
  });
};

export default healthRoutes;
