// One trace across every hop (issue 13): a native stack of its own whose every service process exports
// spans (OTLP/HTTP) to a real receiver in this test. A PATCH through nginx must come back as one trace:
// gateway → tasks (route, Postgres, Redis) → the outbox row → the worker's publish → RabbitMQ → the
// invalidator's and each task replica's consume, every span parented inside it. A read answered by L1
// reaches no database. (http/json, sampling and no receiver at all: shared/service/test/tracing-process.test.ts.)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OtlpReceiver, ReceivedSpan } from '@taskfleet/infra';
import { newAccount, startOtlpReceiver, waitFor } from '@taskfleet/infra';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { edgeStack, native } from './support/edge-stack.ts';

const serviceEnv: Record<string, string> = {
  // Every trace, exported within 100 ms: the test waits for spans, not for a 5 s batch timer.
  OTEL_TRACES_SAMPLER: 'parentbased_always_on',
  OTEL_BSP_SCHEDULE_DELAY: '100',
};
let receiver: OtlpReceiver;
beforeAll(async () => {
  receiver = await startOtlpReceiver();
  serviceEnv.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url;
});
afterAll(() => receiver?.close());
const stack = edgeStack('tracing', { serviceEnv });

const SERVER = 2;
const CLIENT = 3;
const PRODUCER = 4;
const CONSUMER = 5;

const traceOf = (traceId: string) => receiver.spans.filter((s) => s.traceId === traceId);
const traceIdOf = (res: Response) => {
  const header = res.headers.get('traceresponse') ?? '';
  const id = /^00-([0-9a-f]{32})-[0-9a-f]{16}-0[01]$/.exec(header)?.[1];
  if (!id) throw new Error(`no traceresponse header (got "${header}")`);
  return id;
};
/** The database a client span talks to (semantic conventions: db.system.name), if any. */
const dbOf = (s: ReceivedSpan) => s.attributes['db.system.name'];
const describeSpans = (spans: ReceivedSpan[]) =>
  spans.map((s) => `${s.service}: ${s.name} (kind ${s.kind}, parent ${s.parentSpanId || 'none'})`).join('\n');

describe.skipIf(!native)('one trace across gateway, tasks and worker', () => {
  it('follows a PATCH from nginx to the last cache eviction, every span parented in the trace', async () => {
    const { auth } = await newAccount(stack.edge, 'trace');
    const headers = { ...auth, 'content-type': 'application/json' };
    const created = await fetch(`${stack.edge}/v1/tasks`, {
      method: 'POST',
      headers: { ...headers, 'idempotency-key': crypto.randomUUID() },
      body: JSON.stringify({ title: 'traced' }),
    });
    expect(created.status).toBe(201);
    const task = (await created.json()) as { id: string; version: number };

    const patched = await fetch(`${stack.edge}/v1/tasks/${task.id}`, {
      method: 'PATCH',
      headers: { ...headers, 'if-match': `"${task.version}"` },
      body: JSON.stringify({ status: 'done' }),
    });
    expect(patched.status).toBe(200);
    const traceId = traceIdOf(patched);
    // nginx logs the trace the gateway answered with: its access log links to the trace.
    const accessLog = join(stack.dir, 'logs', 'nginx-access.log');
    const edgeLine = await waitFor("the PATCH in nginx's access log", () =>
      readFileSync(accessLog, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { method: string; traceresponse: string })
        .find((l) => l.method === 'PATCH' && l.traceresponse.includes(traceId)),
    );
    expect(edgeLine.traceresponse).toBe(patched.headers.get('traceresponse'));

    // Complete when the worker's invalidator has deleted the entries (a Redis span under its consume),
    // both task replicas have consumed the PATCH's event, and every span's parent has arrived too (each
    // process exports on its own schedule: the gateway's spans may well come last).
    const complete = (spans: ReceivedSpan[]) => {
      const consumes = spans.filter((s) => s.kind === CONSUMER);
      const worker = consumes.filter((c) => c.service === 'worker').map((c) => c.spanId);
      const ids = new Set(spans.map((s) => s.spanId));
      return (
        spans.some((s) => worker.includes(s.parentSpanId)) &&
        consumes.filter((c) => c.service === 'tasks').length >= 2 &&
        spans.some((s) => !s.parentSpanId) &&
        spans.every((s) => !s.parentSpanId || ids.has(s.parentSpanId))
      );
    };
    await waitFor(
      'the PATCH trace to reach the worker and both task replicas',
      async () => complete(traceOf(traceId)),
      { timeoutMs: 60_000 },
    ).catch((err) => {
      throw new Error(`${(err as Error).message}\nspans so far:\n${describeSpans(traceOf(traceId))}`);
    });

    const spans = traceOf(traceId);
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const context = `\n${describeSpans(spans)}`;
    // One root, and it is the gateway's server span (nginx starts no trace of its own).
    const roots = spans.filter((s) => !s.parentSpanId);
    expect(roots, context).toHaveLength(1);
    expect(roots[0], context).toMatchObject({ service: 'gateway', kind: SERVER });
    // Every other span's parent is in the same trace: no orphan, no second trace.
    for (const s of spans)
      if (s.parentSpanId) expect(byId.has(s.parentSpanId), `${s.name}${context}`).toBe(true);

    const ancestorsOf = (s: ReceivedSpan) => {
      const chain: ReceivedSpan[] = [];
      for (let p = byId.get(s.parentSpanId); p; p = byId.get(p.parentSpanId)) chain.push(p);
      return chain;
    };
    const one = (what: string, match: (s: ReceivedSpan) => boolean) => {
      const found = spans.filter(match);
      expect(found.length, `${what}${context}`).toBeGreaterThan(0);
      return found[0]!;
    };
    // gateway → tasks over HTTP: the tasks server span's parent is a gateway client span.
    const tasksServer = one('tasks server span', (s) => s.service === 'tasks' && s.kind === SERVER);
    expect(byId.get(tasksServer.parentSpanId), context).toMatchObject({ service: 'gateway', kind: CLIENT });
    // The route, the database and Redis inside the tasks service.
    // @fastify/otel: the request span ("request", with the route) and the handler's under it.
    const route = one(
      'the tasks route span',
      (s) => s.service === 'tasks' && s.name === 'request' && s.attributes['http.route'] === '/v1/tasks/:id',
    );
    expect(ancestorsOf(route), context).toContain(tasksServer);
    const pg = one('a Postgres span in tasks', (s) => s.service === 'tasks' && dbOf(s) === 'postgresql');
    expect(ancestorsOf(pg), context).toContain(tasksServer);
    one('a Redis span in tasks', (s) => s.service === 'tasks' && dbOf(s) === 'redis');
    // The outbox row carried the trace: the worker's publish descends from the tasks service's work.
    const publish = one('the worker publish span', (s) => s.service === 'worker' && s.kind === PRODUCER);
    expect(
      ancestorsOf(publish).some((a) => a.service === 'tasks'),
      context,
    ).toBe(true);
    // RabbitMQ carried it on: every consume is a child of that publish.
    const consumes = spans.filter((s) => s.kind === CONSUMER);
    for (const c of consumes) expect(c.parentSpanId, `${c.service} ${c.name}${context}`).toBe(publish.spanId);
    expect(new Set(consumes.map((c) => c.service)), context).toEqual(new Set(['worker', 'tasks']));
    // The invalidator deletes the Redis entries inside its consume span.
    const workerConsume = consumes.find((c) => c.service === 'worker')!;
    const deletes = spans.filter((s) => s.parentSpanId === workerConsume.spanId);
    expect(deletes.map(dbOf), context).toContain('redis');
  });

  it('shows which cache layer answered, and a read from L1 reaches no database', async () => {
    const { auth } = await newAccount(stack.edge, 'trace-l1');
    const created = await fetch(`${stack.edge}/v1/tasks`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json', 'idempotency-key': crypto.randomUUID() },
      body: JSON.stringify({ title: 'cached' }),
    });
    const { id } = (await created.json()) as { id: string };
    // The gateway's decisions are on its request span: the key was claimed, the user's budget allowed it.
    const createTrace = traceIdOf(created);
    await waitFor('the gateway spans of the create', () =>
      traceOf(createTrace).some((s) => s.service === 'gateway' && 'idempotency.decision' in s.attributes),
    );
    const decisions = Object.assign(
      {},
      ...traceOf(createTrace)
        .filter((s) => s.service === 'gateway')
        .map((s) => s.attributes),
    );
    expect(decisions).toMatchObject({
      'idempotency.decision': 'claimed',
      'rate_limit.rule': 'user',
      'rate_limit.decision': 'allowed',
    });
    // Reads go to either task replica; each fills its own L1. Read until one answers from L1.
    const readTraces: ReceivedSpan[][] = [];
    let l1Trace: ReceivedSpan[] = [];
    await waitFor(
      'a read answered by L1',
      async () => {
        const res = await fetch(`${stack.edge}/v1/tasks/${id}`, { headers: auth });
        expect(res.status).toBe(200);
        const traceId = traceIdOf(res);
        await waitFor('its spans', async () => traceOf(traceId).some((s) => s.name === 'cache.lookup'), {
          timeoutMs: 20_000,
        });
        l1Trace = traceOf(traceId);
        readTraces.push(l1Trace);
        return l1Trace.some((s) => s.name === 'cache.lookup' && s.attributes['cache.layer'] === 'l1');
      },
      { timeoutMs: 60_000 },
    );
    const dbSpans = l1Trace.filter((s) => dbOf(s) === 'postgresql');
    expect(dbSpans, describeSpans(l1Trace)).toEqual([]);
    expect(
      l1Trace.some((s) => s.name === 'db.route'),
      describeSpans(l1Trace),
    ).toBe(false);
    // The first read of the task found no cache entry: its lookup says so, and the route span under it
    // names where the read went.
    const first = readTraces[0]!;
    const lookup = first.find((s) => s.name === 'cache.lookup');
    expect(lookup?.attributes['cache.layer'], describeSpans(first)).toBe('database');
    const route = first.find((s) => s.name === 'db.route');
    expect(route?.parentSpanId, describeSpans(first)).toBe(lookup?.spanId);
    expect(String(route?.attributes['db.read.target'])).toMatch(/^(\w*replica\d|primary)$/);
  });

  it('exports OTLP/protobuf by default, and counts what it exported', async () => {
    // A request of its own (no account: the auth routes' budget is spent by the tests above).
    expect((await fetch(`${stack.edge}/v1/tasks`)).status).toBe(401);
    await waitFor(
      'an OTLP/protobuf export',
      () => (receiver.requests.get('application/x-protobuf') ?? 0) > 0,
    );
    expect(receiver.requests.get('application/json') ?? 0).toBe(0);
    const exported = async () => {
      const text = await (await fetch(`${stack.serviceUrl('gateway', 1)}/metrics`)).text();
      return Number(/^tracing_spans_exported_total (\d+)/m.exec(text)?.[1] ?? 0) > 0;
    };
    await waitFor('the gateway to count exported spans', exported);
  });
});
