// The OpenTelemetry SDK for a service process, configured only by the standard variables
// (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/):
//   OTEL_SDK_DISABLED=true                      no tracing at all (the tracer is the API's no-op one)
//   OTEL_SERVICE_NAME                           the service's name in the trace view
//   OTEL_EXPORTER_OTLP_ENDPOINT                 where spans go (OTLP; default http://localhost:4318)
//   OTEL_EXPORTER_OTLP_PROTOCOL                 http/protobuf (default), http/json or grpc
//   OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG  e.g. parentbased_traceidratio and 0.1
//   OTEL_TRACES_EXPORTER                        otlp (default), console or none
//   OTEL_BSP_*                                  the export queue: size, delay, batch, timeout
// Spans leave through a bounded batch queue: with no receiver they are dropped (counted in
// tracing_spans_dropped_total), never waited for on the request path. startTracing() runs before the
// service's own modules are imported (tracing-register.ts, `node --import`), or the instrumented
// libraries would be loaded unpatched. Our own spans and helpers: tracing.ts.

import { createRequire } from 'node:module';
import { FastifyOtelInstrumentation } from '@fastify/otel';
import type { Attributes, Meter } from '@opentelemetry/api';
import { createNoopMeter } from '@opentelemetry/api';
import { getNodeAutoInstrumentations } from '@opentelemetry/auto-instrumentations-node';
import { NodeSDK } from '@opentelemetry/sdk-node';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { BatchSpanProcessor, ConsoleSpanExporter } from '@opentelemetry/sdk-trace';
import { spansDropped, spansExported, tracingStarted } from './tracing.ts';

/** Paths never traced: probes and scrapes would fill the trace store with nothing worth reading. */
const UNTRACED = /^\/(health\/|metrics$)/;

let sdk: NodeSDK | undefined;
// The exporter for the configured protocol only: the gRPC one alone loads a whole HTTP/2 stack.
const require = createRequire(import.meta.url);

/** Start the SDK once for this process, from the environment. A no-op when OTEL_SDK_DISABLED=true. */
export function startTracing(env: NodeJS.ProcessEnv = process.env): void {
  if (sdk || /^true$/i.test(env.OTEL_SDK_DISABLED ?? '')) return;
  // Standard variables with defaults of ours: no metrics or logs through OTLP (Prometheus and stdout
  // carry those) and no cloud detectors (they call metadata endpoints that don't exist here).
  env.OTEL_METRICS_EXPORTER ??= 'none';
  env.OTEL_LOGS_EXPORTER ??= 'none';
  env.OTEL_NODE_RESOURCE_DETECTORS ??= 'env,host,os,process,serviceinstance';
  // Only the libraries Taskfleet uses (fastify has its own instrumentation below): the others would
  // cost start-up time and patch nothing.
  env.OTEL_NODE_ENABLED_INSTRUMENTATIONS ??= INSTRUMENTED.join(',');
  const exporter = traceExporter(env);
  sdk = new NodeSDK({
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
    instrumentations: [
      getNodeAutoInstrumentations({
        '@opentelemetry/instrumentation-http': {
          ignoreIncomingRequestHook: (req) => UNTRACED.test(req.url ?? ''),
        },
        // Database, cache and broker calls only inside a trace: the relay's polling, readiness checks
        // and background jobs would otherwise each start a trace of one span, many per second.
        '@opentelemetry/instrumentation-pg': { requireParentSpan: true, enhancedDatabaseReporting: false },
        '@opentelemetry/instrumentation-ioredis': {
          requireParentSpan: true,
          dbStatementSerializer: redisStatement,
        },
        '@opentelemetry/instrumentation-undici': { requireParentforSpans: true },
      }),
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        ignorePaths: ({ url }) => UNTRACED.test(url),
        // A span per route and handler; not one per lifecycle hook (eight or more per request).
        instrumentHooks: false,
      }),
    ],
  });
  sdk.start();
  const started = sdk;
  tracingStarted(() => started.shutdown());
}

/**
 * A Redis command as a span shows it: the command and its keys, never its values (cached tasks, tokens)
 * nor a script's text.
 */
function redisStatement(command: string, args: unknown[]): string {
  const keys = /^eval(sha)?(_ro)?$/i.test(command) ? args.slice(2, 2 + Number(args[1])) : args.slice(0, 1);
  return [command, ...keys.map(String)].join(' ');
}

/** The libraries traced; with the import hooks' include list (tracing-register.ts) in one place. */
export const INSTRUMENTED = ['http', 'undici', 'pg', 'ioredis', 'amqplib'];

function number(value: string | undefined): number | undefined {
  const n = value === undefined || value === '' ? Number.NaN : Number(value);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

function traceExporter(env: NodeJS.ProcessEnv): SpanExporter | undefined {
  const kind = env.OTEL_TRACES_EXPORTER ?? 'otlp';
  if (kind === 'none') return undefined;
  if (kind === 'console') return new ConsoleSpanExporter();
  if (kind !== 'otlp') throw new Error(`OTEL_TRACES_EXPORTER=${kind}: expected otlp, console or none`);
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
      throw new Error(`OTEL_EXPORTER_OTLP_PROTOCOL=${protocol}: expected http/protobuf, http/json or grpc`);
  }
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
