// The OpenTelemetry SDK for a service process, configured only by the standard variables
// (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/):
//   OTEL_SDK_DISABLED=true                      no tracing at all (tracing-register.ts loads nothing)
//   OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES  who the spans come from
//   OTEL_EXPORTER_OTLP_ENDPOINT, …_HEADERS, …   where spans go (OTLP; default http://localhost:4318)
//   OTEL_EXPORTER_OTLP_PROTOCOL                 http/protobuf (default), http/json or grpc
//   OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG  e.g. parentbased_traceidratio and 0.1
//   OTEL_TRACES_EXPORTER                        otlp (default), console or none
//   OTEL_BSP_*                                  the export queue: size, delay, batch, timeout
//   OTEL_LOG_LEVEL                              the SDK's own diagnostics on stderr
// Spans leave through a bounded batch queue: with no receiver they are dropped (counted in
// tracing_spans_dropped_total), never waited for on the request path. startTracing() runs before the
// service's own modules are imported (tracing-register.ts, `node --import`), or the instrumented
// libraries would be loaded unpatched. Our own spans and helpers: tracing.ts.
//
// Built from the SDK's parts rather than NodeSDK and auto-instrumentations-node: those load every
// exporter and every instrumentation there is, 2.5 times the start-up CPU of what Taskfleet uses
// (ADR 0013), and service replicas on a busy host missed their readiness bound.
import { createRequire } from 'node:module';
import { FastifyOtelInstrumentation } from '@fastify/otel';
import type { Attributes, Meter } from '@opentelemetry/api';
import { context, createNoopMeter, DiagConsoleLogger, diag, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  CompositePropagator,
  diagLogLevelFromString,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { AmqplibInstrumentation } from '@opentelemetry/instrumentation-amqplib';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import {
  defaultResource,
  detectResources,
  envDetector,
  hostDetector,
  osDetector,
  processDetector,
  serviceInstanceIdDetector,
} from '@opentelemetry/resources';
import type { Sampler, SpanExporter } from '@opentelemetry/sdk-trace';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { spansDropped, spansExported, tracingStarted } from './tracing.ts';

/** The libraries traced; the import hooks' include list (tracing-register.ts) is made from it. */
export const INSTRUMENTED = ['http', 'undici', 'pg', 'ioredis', 'amqplib'];

/** Paths never traced: probes and scrapes would fill the trace store with nothing worth reading. */
const UNTRACED = /^\/(health\/|metrics$)/;

// The exporter for the configured protocol only: the gRPC one alone loads a whole HTTP/2 stack.
const require = createRequire(import.meta.url);

/** Start tracing for this process, from the environment (once; tracing-register.ts calls it). */
export function startTracing(env: NodeJS.ProcessEnv = process.env): void {
  if (env.OTEL_LOG_LEVEL)
    diag.setLogger(new DiagConsoleLogger(), { logLevel: diagLogLevelFromString(env.OTEL_LOG_LEVEL) });
  const exporter = traceExporter(env);
  const provider = new TracerProvider({
    // service.name and OTEL_RESOURCE_ATTRIBUTES from the environment, then host, OS and process; no
    // cloud detectors (they call metadata endpoints that don't exist here).
    resource: defaultResource().merge(
      detectResources({
        detectors: [envDetector, hostDetector, osDetector, processDetector, serviceInstanceIdDetector],
      }),
    ),
    sampler: samplerFrom(env),
    spanProcessors: exporter
      ? [
          new BatchSpanProcessor({
            exporter,
            maxQueueSize: number(env.OTEL_BSP_MAX_QUEUE_SIZE),
            maxExportBatchSize: number(env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE),
            scheduledDelayMillis: number(env.OTEL_BSP_SCHEDULE_DELAY),
            exportTimeoutMillis: number(env.OTEL_BSP_EXPORT_TIMEOUT),
            // The processor's self-observability (semantic conventions' otel.sdk.processor.span.processed)
            // feeds our two counters: exported, or dropped with the reason.
            selfObsMeterProvider: { getMeter: () => spanOutcomeMeter },
          }),
        ]
      : [],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(
    new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
  );
  trace.setGlobalTracerProvider(provider);
  registerInstrumentations({
    instrumentations: [
      new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => UNTRACED.test(req.url ?? '') }),
      // Database, cache and HTTP-client calls only inside a trace: the relay's polling, readiness checks
      // and background jobs would otherwise each start a trace of one span, many per second.
      new UndiciInstrumentation({ requireParentforSpans: true }),
      new PgInstrumentation({ requireParentSpan: true, enhancedDatabaseReporting: false }),
      new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: redisStatement }),
      new AmqplibInstrumentation(),
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        ignorePaths: ({ url }) => UNTRACED.test(url),
        // A span per request and handler; not one per lifecycle hook (eight or more per request).
        instrumentHooks: false,
      }),
    ],
  });
  tracingStarted(() => provider.shutdown());
}

/** The sampler OTEL_TRACES_SAMPLER names (the spec's default: parentbased_always_on). */
function samplerFrom(env: NodeJS.ProcessEnv): Sampler {
  const ratio = () => {
    const arg = Number(env.OTEL_TRACES_SAMPLER_ARG ?? 1);
    if (!(arg >= 0 && arg <= 1))
      throw new Error(`OTEL_TRACES_SAMPLER_ARG=${env.OTEL_TRACES_SAMPLER_ARG}: expected 0…1`);
    return new TraceIdRatioBasedSampler(arg);
  };
  const name = env.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on';
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio();
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio() });
    default:
      // As the specification asks: a bad setting warns and falls back, it never stops the service.
      diag.warn(`OTEL_TRACES_SAMPLER=${name}: not a sampler this SDK knows; using parentbased_always_on`);
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

function traceExporter(env: NodeJS.ProcessEnv): SpanExporter | undefined {
  const kind = env.OTEL_TRACES_EXPORTER ?? 'otlp';
  if (kind === 'none') return undefined;
  if (kind === 'console') return new ConsoleSpanExporter();
  if (kind !== 'otlp') diag.warn(`OTEL_TRACES_EXPORTER=${kind}: expected otlp, console or none; using otlp`);
  // The OTLP exporters read their endpoint, headers, compression and timeout from the environment.
  const protocol =
    env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf';
  switch (protocol) {
    case 'http/protobuf':
      return new (require('@opentelemetry/exporter-trace-otlp-proto').OTLPTraceExporter)();
    case 'http/json':
      return new (require('@opentelemetry/exporter-trace-otlp-http').OTLPTraceExporter)();
    case 'grpc':
      return new (require('@opentelemetry/exporter-trace-otlp-grpc').OTLPTraceExporter)();
    default:
      diag.warn(
        `OTEL_EXPORTER_OTLP_PROTOCOL=${protocol}: expected http/protobuf, http/json or grpc; using http/protobuf`,
      );
      return new (require('@opentelemetry/exporter-trace-otlp-proto').OTLPTraceExporter)();
  }
}

function number(value: string | undefined): number | undefined {
  const n = value === undefined || value === '' ? Number.NaN : Number(value);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/**
 * A Redis command as a span shows it: the command and its keys, never its values (cached tasks, tokens)
 * nor a script's text.
 */
function redisStatement(command: string, args: unknown[]): string {
  const keys = /^eval(sha)?(_ro)?$/i.test(command) ? args.slice(2, 2 + Number(args[1])) : args.slice(0, 1);
  return [command, ...keys.map(String)].join(' ');
}

// A Meter that counts the batch processor's processed spans into prom-client; its other instruments
// (queue size and capacity) are the no-op meter's.
const spanOutcomeMeter: Meter = Object.assign(Object.create(createNoopMeter()), {
  createCounter: () => ({
    add(n: number, attrs?: Attributes) {
      const reason = attrs?.['error.type'];
      if (reason === undefined) spansExported.inc(n);
      else spansDropped.inc({ reason: String(reason) }, n);
    },
  }),
});
