// Where telemetry meets every request. With the tracing SDK running (tracing-register.ts), the HTTP and
// Fastify instrumentations have already continued the caller's trace (or started one) when a request
// arrives; this plugin answers with a W3C `traceresponse` header naming that trace, so whoever sits in
// front (nginx's access log, a client) can find it. Log lines carry trace_id and span_id through the
// logger's mixin (server.ts). Without the SDK, the caller's `traceparent` is still checked, kept on the
// request and its trace id put on every log line of it, so logs and the events a write emits stay
// joined to the caller's trace.
import { context, trace } from '@opentelemetry/api';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { activeTraceparent, tracingEnabled } from './tracing.ts';

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

/**
 * The trace context to hand on from this point of a request (to an event, a job): the active span's
 * when tracing, else the caller's traceparent, else undefined.
 */
export function traceContextOf(request: FastifyRequest): string | undefined {
  return activeTraceparent() ?? request.traceparent;
}

/** The log fields of the active span: on every line logged inside a trace (the logger's mixin). */
export function traceLogFields(): { trace_id?: string; span_id?: string } {
  const span = trace.getSpan(context.active());
  if (!span) return {};
  const { traceId, spanId } = span.spanContext();
  return trace.isSpanContextValid(span.spanContext()) ? { trace_id: traceId, span_id: spanId } : {};
}

export const telemetry = fp(
  async (app) => {
    app.decorateRequest('traceparent', undefined);
    const traced = tracingEnabled();
    // Callback hooks, not async ones: they run on every request and have nothing to wait for.
    app.addHook('onRequest', (request, reply, done) => {
      const header = request.headers.traceparent;
      const traceId = traceIdOf(header);
      if (traceId) request.traceparent = header as string;
      const current = traced ? activeTraceparent() : undefined;
      if (current) reply.header('traceresponse', current);
      // Without the SDK nothing puts the trace on log lines: the caller's trace id, then.
      else if (traceId) request.log = request.log.child({ trace_id: traceId });
      done();
    });
  },
  { name: 'telemetry' },
);
