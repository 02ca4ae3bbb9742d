// Graceful shutdown as every service does it (drain + the service defaults' readiness): readiness is
// false from the first moment, while requests already in flight — and those that arrive during the
// drain window — are still answered; then the app closes.
import createError from '@fastify/error';
import type { InjectOptions } from 'fastify';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { serviceDefaults } from '../../src/defaults.ts';
import { commonErrors } from '../../src/errors.ts';
import { drain, serviceOptions } from '../../src/server.ts';

const errors = { ...commonErrors('TEST'), TEAPOT: createError('TEST_ERR_TEAPOT', 'short and stout', 418) };

async function app() {
  const app = Fastify(serviceOptions({}));
  await app.register(serviceDefaults, { errors });
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let started!: () => void;
  const inFlight = new Promise<void>((resolve) => {
    started = resolve;
  });
  app.get('/slow', async () => {
    started();
    await released;
    return { done: true };
  });
  app.health.add({ name: 'dependency', critical: true, check: () => 'ok' });
  await app.ready();
  return { app, release, inFlight };
}

describe('drain', () => {
  it('answers 503 on ready from its first moment while an in-flight request still finishes', async () => {
    const { app: service, release, inFlight } = await app();
    expect((await service.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);

    const slow = service.inject({ method: 'GET', url: '/slow' });
    await inFlight;
    void drain(service, 60_000); // a window longer than the test: the test ends it, below
    const ready = await service.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toMatchObject({ status: 'not ready', checks: { shutdown: 'in progress' } });
    // Liveness is not readiness: the process is fine, it is leaving.
    expect((await service.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);

    release();
    const answer = await slow;
    expect(answer.statusCode).toBe(200);
    expect(answer.json()).toEqual({ done: true });
    await service.close(); // what the end of the window does
  });

  it('closes the app after the window', async () => {
    const { app: service } = await app();
    let closed = false;
    service.addHook('onClose', async () => {
      closed = true;
    });
    await drain(service, 10);
    expect(closed).toBe(true);
  });
});

describe('readiness from declared checks', () => {
  it('is false when a critical check fails or hangs, and shows a failing non-critical one as degraded', async () => {
    const service = Fastify(serviceOptions({}));
    await service.register(serviceDefaults, { errors, checkTimeoutMs: 50 });
    let primaryUp = true;
    service.health.add({
      name: 'primary',
      critical: true,
      check: () => {
        if (!primaryUp) throw new Error('connection refused');
      },
    });
    service.health.add({ name: 'cache', critical: false, check: () => Promise.reject(new Error('down')) });
    service.health.add({ name: 'replicas', critical: false, check: () => '2 of 2' });
    await service.ready();

    const ok = await service.inject({ method: 'GET', url: '/health/ready' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().checks).toEqual({
      shutdown: 'no',
      primary: 'ok',
      cache: 'degraded: down',
      replicas: '2 of 2',
    });
    primaryUp = false;
    const down = await service.inject({ method: 'GET', url: '/health/ready' });
    expect(down.statusCode).toBe(503);
    expect(down.json().checks.primary).toBe('failing: connection refused');

    service.health.add({ name: 'hung', critical: true, check: () => new Promise(() => {}) });
    primaryUp = true;
    const hung = await service.inject({ method: 'GET', url: '/health/ready' });
    expect(hung.statusCode).toBe(503);
    expect(hung.json().checks.hung).toBe('failing: no answer in 50 ms');
    await service.close();
  });
});

describe('problem details from the common errors', () => {
  it('passes the service’s own codes through, maps framework and dependency errors, hides 5xx details', async () => {
    const service = Fastify(serviceOptions({ bodyLimit: 1024 }));
    await service.register(serviceDefaults, { errors });
    service.get('/teapot', async () => {
      throw new errors.TEAPOT();
    });
    service.get('/db-down', async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:6432');
    });
    service.get('/bug', async () => {
      throw new Error('secret internals');
    });
    service.post('/echo', async (request) => request.body);
    await service.ready();

    const problem = async (opts: InjectOptions) => {
      const r = await service.inject(opts);
      expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
      return { status: r.statusCode, retryAfter: r.headers['retry-after'], ...r.json() };
    };
    expect(await problem({ method: 'GET', url: '/teapot' })).toMatchObject({
      status: 418,
      code: 'TEST_ERR_TEAPOT',
    });
    expect(await problem({ method: 'GET', url: '/db-down' })).toMatchObject({
      status: 503,
      code: 'TEST_ERR_UNAVAILABLE',
      retryAfter: '1',
    });
    const bug = await problem({ method: 'GET', url: '/bug' });
    expect(bug).toMatchObject({ status: 500, code: 'TEST_ERR_INTERNAL', detail: 'internal error' });
    expect(JSON.stringify(bug)).not.toContain('secret');
    expect(await problem({ method: 'GET', url: '/nope?x=1' })).toMatchObject({
      status: 404,
      code: 'TEST_ERR_ROUTE_NOT_FOUND',
      detail: 'no such route: GET /nope',
    });
    const post = (payload: string, type = 'application/json') =>
      problem({ method: 'POST', url: '/echo', payload, headers: { 'content-type': type } });
    expect(await post('{"a":')).toMatchObject({ status: 400, code: 'TEST_ERR_MALFORMED_JSON' });
    expect(await post('x'.repeat(2048))).toMatchObject({
      status: 413,
      code: 'TEST_ERR_BODY_TOO_LARGE',
      detail: 'the request body is larger than 1024 bytes',
    });
    expect(await post('<a/>', 'application/xml')).toMatchObject({
      status: 415,
      code: 'TEST_ERR_UNSUPPORTED_MEDIA_TYPE',
    });
    await service.close();
  });
});
