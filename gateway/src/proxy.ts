// Forwarding one request to a replica of a service. Idempotent requests (GET, HEAD, OPTIONS, PUT,
// DELETE) that fail — connection refused or reset, timeout, or a 502/503/504 from the replica — are
// tried again on another replica, up to `retries` times. A POST is tried again only when it provably
// never reached a replica (the connection could not be made); otherwise the client decides, with its
// Idempotency-Key. The body is buffered by Fastify (bounded by BODY_LIMIT), which is what makes a retry
// possible.

import { tracingEnabled } from '@taskfleet/service';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Dispatcher } from 'undici';
import { GatewayErrors } from './errors.ts';
import type { Upstream, UpstreamGroup } from './upstreams.ts';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
// Hop-by-hop headers (RFC 9110 §7.6.1) and those the gateway sets itself.
const DROP_REQUEST = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'x-request-id',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
]);
// traceresponse: the gateway answers with its own (shared/service telemetry.ts), naming its span.
const DROP_RESPONSE = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'trailer',
  'upgrade',
  'traceresponse',
]);
// With tracing on, the HTTP client's instrumentation sends the gateway's own trace context (its client
// span, a child of the caller's): the caller's headers would contradict it. Without, they pass as they are.
const TRACE_CONTEXT = ['traceparent', 'tracestate'];
const RETRYABLE_STATUS = new Set([502, 503, 504]);
/** Errors raised before any byte of the request left: safe to retry whatever the method. */
const NOT_SENT = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

export interface ProxyOptions {
  retries: number;
  timeoutMs: number;
  onAttempt: (service: string, outcome: 'ok' | 'retried' | 'failed') => void;
}

export interface UpstreamResponse {
  statusCode: number;
  /** End-to-end headers only. */
  headers: Record<string, string | string[]>;
  body: Dispatcher.ResponseData['body'];
}

/** Answers up to this size are read whole before they are sent on; larger ones are streamed. */
const BUFFERED_MAX_BYTES = 1024 * 1024;

/**
 * Forward and send the answer back. An answer of known, bounded length (every API answer) goes out in
 * one write with its headers; piping it as a stream cost a write per chunk plus the stream machinery,
 * a measurable share of a cached read (docs/performance.md). Anything else is streamed as it comes.
 */
export async function forward(
  request: FastifyRequest,
  reply: FastifyReply,
  group: UpstreamGroup,
  opts: ProxyOptions,
): Promise<FastifyReply> {
  const response = await exchange(request, group, opts);
  reply.code(response.statusCode).headers(response.headers);
  const length = Number(response.headers['content-length'] ?? Number.NaN);
  if (length <= BUFFERED_MAX_BYTES) return reply.send(Buffer.from(await response.body.arrayBuffer()));
  return reply.send(response.body);
}

/** The request against a replica of `group` (retried where safe); throws a GATEWAY_ERR_* when none answers. */
export async function exchange(
  request: FastifyRequest,
  group: UpstreamGroup,
  opts: ProxyOptions,
): Promise<UpstreamResponse> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined && !DROP_REQUEST.has(name)) headers[name] = value;
  }
  if (tracingEnabled()) for (const name of TRACE_CONTEXT) delete headers[name];
  headers['x-request-id'] = request.id;
  const forwardedFor = request.headers['x-forwarded-for'];
  headers['x-forwarded-for'] = forwardedFor ? `${forwardedFor}, ${request.ip}` : request.ip;
  headers['x-forwarded-proto'] = request.protocol;
  const body = request.body === undefined ? undefined : (request.body as Buffer);
  const idempotent = IDEMPOTENT.has(request.method);

  const tried = new Set<Upstream>();
  let lastError: 'unavailable' | 'bad_gateway' | 'timeout' = 'unavailable';
  for (let attempt = 0; attempt <= opts.retries; attempt++) {
    const upstream = group.pick(tried);
    if (!upstream) break;
    tried.add(upstream);
    upstream.begin();
    let response: Dispatcher.ResponseData;
    try {
      response = await upstream.pool.request({
        method: request.method as Dispatcher.HttpMethod,
        path: request.url,
        headers,
        body,
        headersTimeout: opts.timeoutMs,
        bodyTimeout: opts.timeoutMs,
      });
    } catch (err) {
      upstream.failed();
      const code = (err as { code?: string }).code ?? '';
      lastError =
        code === 'UND_ERR_HEADERS_TIMEOUT' ? 'timeout' : NOT_SENT.has(code) ? 'unavailable' : 'bad_gateway';
      request.log.warn({ upstream: upstream.origin, code }, 'upstream request failed');
      if (idempotent || NOT_SENT.has(code)) {
        opts.onAttempt(group.service, 'retried');
        continue;
      }
      break;
    }
    if (RETRYABLE_STATUS.has(response.statusCode) && idempotent && attempt < opts.retries) {
      upstream.failed();
      await response.body.dump();
      opts.onAttempt(group.service, 'retried');
      lastError = 'unavailable';
      continue;
    }
    if (RETRYABLE_STATUS.has(response.statusCode)) upstream.failed();
    else upstream.succeeded();
    opts.onAttempt(group.service, 'ok');
    const endToEnd: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined && !DROP_RESPONSE.has(name)) endToEnd[name] = value;
    }
    return { statusCode: response.statusCode, headers: endToEnd, body: response.body };
  }
  opts.onAttempt(group.service, 'failed');
  if (lastError === 'timeout') throw new GatewayErrors.UPSTREAM_TIMEOUT(group.service);
  if (lastError === 'bad_gateway') throw new GatewayErrors.BAD_GATEWAY(group.service);
  throw new GatewayErrors.UPSTREAM_UNAVAILABLE(group.service);
}
