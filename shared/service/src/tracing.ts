// Taskfleet's side of tracing, light enough for every module to import: the tracer of our own spans,
// helpers to run code in a span and to hand the trace on, and the tracing SDK's metrics. The SDK itself
// (tracing-sdk.ts) is loaded only by the process entry (tracing-register.ts); without it — under
// OTEL_SDK_DISABLED and in tests — the API's no-op tracer answers and these helpers cost next to nothing.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Attributes, Span } from '@opentelemetry/api';
import { context, INVALID_SPAN_CONTEXT, propagation, SpanStatusCode, trace } from '@opentelemetry/api';
import { Counter, Registry } from 'prom-client';

/** The tracer of Taskfleet's own spans. */
export const tracer = trace.getTracer('taskfleet');
const NO_SPAN = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * The tracing SDK's own metrics, process-wide (one SDK per process); every service's /metrics shows
 * them beside the app's (metrics.ts). Zero while tracing is off.
 */
export const tracingRegistry = new Registry();
export const spansExported = new Counter({
  name: 'tracing_spans_exported_total',
  help: 'Spans handed to the trace receiver successfully',
  registers: [tracingRegistry],
});
export const spansDropped = new Counter({
  name: 'tracing_spans_dropped_total',
  help: 'Spans lost: the export queue was full (reason queue_full) or the receiver failed (the error type)',
  labelNames: ['reason'],
  registers: [tracingRegistry],
});

let flush: (() => Promise<void>) | undefined;

/** Whether the tracing SDK runs in this process. */
export const tracingEnabled = (): boolean => flush !== undefined;

/** Called by the SDK's module when it has started: how to flush and stop it on shutdown. */
export function tracingStarted(stop: () => Promise<void>): void {
  flush = stop;
}

/** Export what is queued and stop the SDK (on shutdown, once the app has closed). */
export async function stopTracing(): Promise<void> {
  const stop = flush;
  flush = undefined;
  // Bounded: a receiver that hangs must not hold the process past its shutdown window.
  await Promise.race([stop?.().catch(() => {}), sleep(3_000, undefined, { ref: false })]);
}

/**
 * Run `fn` in a span of its own (a child of the active one), recording a thrown error on it. For the
 * decisions worth seeing in a trace: which cache layer answered, which replica served, what a limit said.
 */
export function inSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  // Without the SDK: no span and no context switch (the no-op tracer would still make both).
  if (!flush) return fn(NO_SPAN);
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The W3C traceparent of the active span, or undefined when nothing is being traced. */
export function activeTraceparent(): string | undefined {
  const span = trace.getSpan(context.active());
  if (!span) return undefined;
  const { traceId, spanId, traceFlags } = span.spanContext();
  if (!trace.isSpanContextValid(span.spanContext())) return undefined;
  return `00-${traceId}-${spanId}-${traceFlags.toString(16).padStart(2, '0')}`;
}

/**
 * Run `fn` inside the trace a stored W3C traceparent names (an outbox row's, say), so what it does —
 * publishing the row's event — joins the trace of the request that wrote it.
 */
export function inTraceOf<T>(traceparent: string | null | undefined, fn: () => T): T {
  if (!flush || !traceparent) return fn();
  return context.with(propagation.extract(context.active(), { traceparent }), fn);
}

/** The span in progress when tracing, for a decision worth recording on it; undefined otherwise. */
export const activeSpan = (): Span | undefined => (flush ? trace.getActiveSpan() : undefined);
