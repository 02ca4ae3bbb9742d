// Where telemetry plugs into every service. Today: the W3C trace context a request arrives with
// (`traceparent`, set by whoever traces the call), checked once and kept on the request, so logs and the
// events a write emits carry the caller's trace. The tracing SDK (OpenTelemetry) hooks in here too.
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's `traceparent` header when it is well-formed (W3C Trace Context), else undefined. */
    traceparent: string | undefined;
  }
}

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The trace id of a well-formed traceparent, undefined for anything else. */
export function traceIdOf(traceparent: unknown): string | undefined {
  return typeof traceparent === 'string' ? TRACEPARENT.exec(traceparent)?.[1] : undefined;
}

export const telemetry = fp(
  async (app) => {
    app.decorateRequest('traceparent', undefined);
    // A callback hook, not an async one: it runs on every request and has nothing to wait for.
    app.addHook('onRequest', (request, _reply, done) => {
      const header = request.headers.traceparent;
      const traceId = traceIdOf(header);
      if (traceId) {
        request.traceparent = header as string;
        request.log = request.log.child({ traceId });
      }
      done();
    });
  },
  { name: 'telemetry' },
);
