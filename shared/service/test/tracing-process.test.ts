// The tracing SDK in a real service process (runService, loaded by `node --import tracing-register.ts`
// as every service is), configured by the standard OTEL_* variables and exporting to a real OTLP/HTTP
// receiver: http/json as well as the default protobuf, parent-based ratio sampling, trace ids on log
// lines, and no receiver at all — requests unharmed, the lost spans counted.
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { OtlpReceiver } from '@taskfleet/infra';
import { repoPath, startOtlpReceiver, waitFor } from '@taskfleet/infra';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'slow-service.ts');
const REGISTER = join(import.meta.dirname, '..', 'src', 'tracing-register.ts');

interface Traced {
  url: string;
  lines: Record<string, unknown>[];
  /** The log lines as written (what a log store keeps). */
  raw: string[];
  child: ChildProcess;
}
const running: ChildProcess[] = [];
afterEach(() => {
  for (const child of running.splice(0)) child.kill('SIGKILL');
});

/** The fixture service with tracing, under `env` (OTEL_* and the fixture's own). */
async function traced(env: Record<string, string>): Promise<Traced> {
  const child = spawn(process.execPath, ['--conditions=@taskfleet/source', `--import=${REGISTER}`, FIXTURE], {
    env: {
      ...process.env,
      PORT: '0',
      LOG_LEVEL: 'info',
      SLOW_MS: '0',
      OTEL_SERVICE_NAME: 'fixture',
      OTEL_BSP_SCHEDULE_DELAY: '50',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  running.push(child);
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  // Whole lines only: a chunk may end in the middle of one.
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (!line) return;
    raw.push(line);
    lines.push(JSON.parse(line));
  });
  const url = await waitFor(
    'the fixture listening',
    () =>
      lines
        .map((l) => /^Server listening at (http:\/\/127\.0\.0\.1:\d+)$/.exec(String(l.msg))?.[1])
        .find(Boolean),
    { timeoutMs: 60_000 },
  );
  return { url, lines, raw, child };
}

const traceOfResponse = (res: Response) =>
  /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/.exec(res.headers.get('traceresponse') ?? '');
const metric = async (url: string, name: string) => {
  const text = await (await fetch(`${url}/metrics`)).text();
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'gm'))].reduce(
    (n, m) => n + Number(m[1]),
    0,
  );
};

/** A derived field of the Loki datasource Grafana is provisioned with. */
function lokiDerivedField(name: string): { matcherRegex: string } {
  const file = readFileSync(repoPath('grafana/provisioning/datasources/traces-and-logs.yml'), 'utf8');
  const loki = (
    parse(file) as {
      datasources: { uid: string; jsonData: { derivedFields: { name: string; matcherRegex: string }[] } }[];
    }
  ).datasources.find((d) => d.uid === 'loki');
  const field = loki?.jsonData.derivedFields.find((f) => f.name === name);
  if (!field) throw new Error(`no derived field ${name} in the Loki datasource`);
  return field;
}

let receiver: OtlpReceiver;
beforeAll(async () => {
  receiver = await startOtlpReceiver();
});
afterAll(() => receiver.close());

describe('tracing in a service process', () => {
  it('exports over http/json, answers with traceresponse, and puts trace_id and span_id on the request log lines', async () => {
    const { url, lines, raw } = await traced({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    });
    const res = await fetch(`${url}/slow`);
    expect(res.status).toBe(200);
    const [, traceId] = traceOfResponse(res) ?? [];
    expect(traceId).toBeDefined();
    await waitFor('the request span', () =>
      receiver.spans.some((s) => s.traceId === traceId && s.name === 'request'),
    );
    const spans = receiver.spans.filter((s) => s.traceId === traceId);
    expect(spans.every((s) => s.service === 'fixture')).toBe(true);
    expect(spans.find((s) => s.kind === 2)).toMatchObject({ name: 'GET /slow', parentSpanId: '' });
    expect(receiver.requests.get('application/json')).toBeGreaterThan(0);

    // The route's own log line and the access-log line, both inside the trace.
    for (const msg of ['slow request started', 'request completed']) {
      const line = lines.find((l) => l.msg === msg && l.trace_id === traceId);
      expect(line, msg).toBeDefined();
      expect(line?.span_id, msg).toMatch(/^[0-9a-f]{16}$/);
      expect(
        spans.map((s) => s.spanId),
        msg,
      ).toContain(line?.span_id);
    }
    // Grafana's log → trace link (the Loki datasource's derived field) finds the trace id in these lines.
    const { matcherRegex } = lokiDerivedField('trace_id');
    const linked = raw.filter((l) => new RegExp(matcherRegex).exec(l)?.[1] === traceId);
    expect(linked.length).toBeGreaterThanOrEqual(2);
    // Probes and scrapes start no trace.
    await fetch(`${url}/health/ready`);
    await fetch(`${url}/metrics`);
    await fetch(`${url}/slow`); // a later export that would carry them
    await waitFor(
      'the second request',
      () => receiver.spans.filter((s) => s.name === 'GET /slow').length >= 2,
    );
    expect(
      receiver.spans.filter(
        (s) => s.kind === 2 && /health|metrics/.test(`${s.name} ${s.attributes['url.path'] ?? ''}`),
      ),
    ).toEqual([]);
  });

  it('samples by trace id ratio at the root and follows the caller’s decision below it', async () => {
    const before = receiver.spans.length;
    const { url } = await traced({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0',
    });
    const unsampledRoot = await fetch(`${url}/slow`);
    expect(unsampledRoot.status).toBe(200);
    const callerTrace = crypto.randomUUID().replaceAll('-', '');
    const sampledChild = await fetch(`${url}/slow`, {
      headers: { traceparent: `00-${callerTrace}-00f067aa0ba902b7-01` },
    });
    expect(sampledChild.status).toBe(200);
    // Spans leave in the order they end: once the caller's trace is here, the root's would be too.
    await waitFor('the sampled child trace', () => receiver.spans.some((s) => s.traceId === callerTrace));
    const server = receiver.spans.find((s) => s.traceId === callerTrace && s.kind === 2);
    expect(server?.parentSpanId).toBe('00f067aa0ba902b7');
    const mine = receiver.spans.slice(before).filter((s) => s.service === 'fixture');
    expect(new Set(mine.map((s) => s.traceId))).toEqual(new Set([callerTrace]));
  });

  it('serves every request with no receiver, and counts the spans it could not deliver', async () => {
    const { url, lines } = await traced({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1', // nothing listens on port 1
      OTEL_BSP_MAX_QUEUE_SIZE: '8',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '4',
    });
    for (let i = 0; i < 40; i++) expect((await fetch(`${url}/slow`)).status).toBe(200);
    await waitFor(
      'the lost spans counted',
      async () => (await metric(url, 'tracing_spans_dropped_total')) > 0,
      {
        timeoutMs: 60_000,
      },
    );
    expect(await metric(url, 'tracing_spans_exported_total')).toBe(0);
    expect(lines.filter((l) => Number(l.level) >= 50)).toEqual([]); // no error logged on the request path
  });

  it('does nothing under OTEL_SDK_DISABLED=true: no header, no spans, the counters at zero', async () => {
    const before = receiver.requests.size + receiver.spans.length;
    const { url, lines } = await traced({
      OTEL_SDK_DISABLED: 'true',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    });
    const res = await fetch(`${url}/slow`, {
      headers: { traceparent: `00-${'a'.repeat(32)}-00f067aa0ba902b7-01` },
    });
    expect(res.headers.get('traceresponse')).toBeNull();
    // The caller's trace id is still on the log lines: logs join the trace whoever records it.
    const line = await waitFor('the request log line', () =>
      lines.find((l) => l.msg === 'slow request started'),
    );
    expect(line).toMatchObject({ trace_id: 'a'.repeat(32) });
    expect(await metric(url, 'tracing_spans_exported_total')).toBe(0);
    expect(receiver.requests.size + receiver.spans.length).toBe(before);
  });
});
