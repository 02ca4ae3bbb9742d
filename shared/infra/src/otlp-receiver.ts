// A trace receiver for tests and the benchmark: a real OTLP/HTTP endpoint (POST /v1/traces, protobuf or
// JSON, as the OpenTelemetry exporters send them) that keeps the spans it gets, flattened. Jaeger and the
// OpenTelemetry Collector are not installable on these machines; what the services speak is the same.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import protobuf from 'protobufjs';

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  /** service.name of the resource that sent it. */
  service: string;
  attributes: Record<string, string | number | boolean>;
}

export interface OtlpReceiver {
  /** Base URL for OTEL_EXPORTER_OTLP_ENDPOINT. */
  url: string;
  spans: ReceivedSpan[];
  /** How many export requests arrived, by content type. */
  requests: Map<string, number>;
  close(): Promise<void>;
}

// The part of opentelemetry-proto's trace service that a receiver reads (field numbers as upstream).
const OTLP = protobuf.Root.fromJSON({
  nested: {
    otlp: {
      nested: {
        ExportTraceServiceRequest: {
          fields: { resourceSpans: { rule: 'repeated', type: 'ResourceSpans', id: 1 } },
        },
        ResourceSpans: {
          fields: {
            resource: { type: 'Resource', id: 1 },
            scopeSpans: { rule: 'repeated', type: 'ScopeSpans', id: 2 },
          },
        },
        Resource: { fields: { attributes: { rule: 'repeated', type: 'KeyValue', id: 1 } } },
        ScopeSpans: { fields: { spans: { rule: 'repeated', type: 'Span', id: 2 } } },
        Span: {
          fields: {
            traceId: { type: 'bytes', id: 1 },
            spanId: { type: 'bytes', id: 2 },
            parentSpanId: { type: 'bytes', id: 4 },
            name: { type: 'string', id: 5 },
            kind: { type: 'int32', id: 6 },
            attributes: { rule: 'repeated', type: 'KeyValue', id: 9 },
          },
        },
        KeyValue: { fields: { key: { type: 'string', id: 1 }, value: { type: 'AnyValue', id: 2 } } },
        AnyValue: {
          oneofs: { value: { oneof: ['stringValue', 'boolValue', 'intValue', 'doubleValue'] } },
          fields: {
            stringValue: { type: 'string', id: 1 },
            boolValue: { type: 'bool', id: 2 },
            intValue: { type: 'int64', id: 3 },
            doubleValue: { type: 'double', id: 4 },
          },
        },
      },
    },
  },
}).lookupType('otlp.ExportTraceServiceRequest');

interface AnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
}
interface KeyValue {
  key: string;
  value?: AnyValue;
}
interface WireSpan {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  name: string;
  kind?: number | string;
  attributes?: KeyValue[];
}
interface WireRequest {
  resourceSpans?: { resource?: { attributes?: KeyValue[] }; scopeSpans?: { spans?: WireSpan[] }[] }[];
}

const SPAN_KINDS = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];

function value(v: AnyValue | undefined): string | number | boolean {
  if (!v) return '';
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  return v.doubleValue ?? '';
}

const attributesOf = (list: KeyValue[] | undefined) =>
  Object.fromEntries((list ?? []).map((kv) => [kv.key, value(kv.value)]));

/** Protobuf bytes arrive as base64 from protobufjs' toObject; OTLP/JSON sends ids as hex already. */
const hex = (id: string | undefined, json: boolean) =>
  !id ? '' : json ? id.toLowerCase() : Buffer.from(id, 'base64').toString('hex');

function flatten(body: WireRequest, json: boolean): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of body.resourceSpans ?? []) {
    const service = String(attributesOf(rs.resource?.attributes)['service.name'] ?? '');
    for (const ss of rs.scopeSpans ?? [])
      for (const s of ss.spans ?? [])
        out.push({
          traceId: hex(s.traceId, json),
          spanId: hex(s.spanId, json),
          parentSpanId: hex(s.parentSpanId, json),
          name: s.name,
          kind:
            typeof s.kind === 'string' ? SPAN_KINDS.indexOf(s.kind.replace('SPAN_KIND_', '')) : (s.kind ?? 0),
          service,
          attributes: attributesOf(s.attributes),
        });
  }
  return out;
}

/** keepSpans false: count the export requests only, decoding nothing (the benchmark's cheap stand-in). */
export async function startOtlpReceiver(opts: { keepSpans?: boolean } = {}): Promise<OtlpReceiver> {
  const keep = opts.keepSpans ?? true;
  const spans: ReceivedSpan[] = [];
  const requests = new Map<string, number>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      requests.set(type, (requests.get(type) ?? 0) + 1);
      const body = Buffer.concat(chunks);
      try {
        if (keep && type === 'application/json')
          spans.push(...flatten(JSON.parse(body.toString('utf8')), true));
        else if (keep)
          spans.push(
            ...flatten(
              OTLP.toObject(OTLP.decode(body), { bytes: String, longs: String }) as WireRequest,
              false,
            ),
          );
      } catch {
        res.writeHead(400).end();
        return;
      }
      // An empty ExportTraceServiceResponse: all accepted.
      res.writeHead(200, { 'content-type': type === 'application/json' ? 'application/json' : type });
      res.end(type === 'application/json' ? '{}' : Buffer.alloc(0));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
