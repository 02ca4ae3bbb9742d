// Trace context from the caller: kept on the request when well-formed, and on every log line of it.
import { Writable } from 'node:stream';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { serviceDefaults } from '../../src/defaults.ts';
import { commonErrors } from '../../src/errors.ts';
import { serviceOptions } from '../../src/server.ts';
import { traceIdOf } from '../../src/telemetry.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACEPARENT = `00-${TRACE}-00f067aa0ba902b7-01`;

describe('trace context', () => {
  it('takes the trace id of a well-formed traceparent only', () => {
    expect(traceIdOf(TRACEPARENT)).toBe(TRACE);
    for (const bad of [
      undefined,
      '',
      'x',
      `00-${TRACE}-00f067aa0ba902b7`,
      `00-${TRACE.toUpperCase()}-00f067aa0ba902b7-01`,
      ['a'],
    ])
      expect(traceIdOf(bad)).toBeUndefined();
  });

  it('puts the trace id on the access-log line and the traceparent on the request', async () => {
    const lines: Record<string, unknown>[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const app = Fastify(serviceOptions({ logger: { level: 'info', stream } }));
    await app.register(serviceDefaults, { errors: commonErrors('TEST') });
    app.get('/echo', async (request) => ({ traceparent: request.traceparent ?? null }));
    await app.ready();

    const traced = await app.inject({ method: 'GET', url: '/echo', headers: { traceparent: TRACEPARENT } });
    expect(traced.json()).toEqual({ traceparent: TRACEPARENT });
    const untraced = await app.inject({ method: 'GET', url: '/echo', headers: { traceparent: 'garbage' } });
    expect(untraced.json()).toEqual({ traceparent: null });
    await app.close();

    const completed = lines.filter((l) => l.msg === 'request completed');
    expect(completed).toHaveLength(2);
    expect(completed[0]).toMatchObject({ trace_id: TRACE, req: { url: '/echo' }, res: { statusCode: 200 } });
    expect(completed[1]).not.toHaveProperty('trace_id');
  });
});
