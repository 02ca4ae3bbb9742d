// One place that turns every error into RFC 9457 problem details (application/problem+json) with a
// stable code. A service's own errors carry codes `<PREFIX>_ERR_*` (made with @fastify/error) and pass
// through; framework errors are mapped to the generic codes every service documents: VALIDATION,
// MALFORMED_JSON, BODY_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, ROUTE_NOT_FOUND, INTERNAL (errors.ts), and a
// dependency that is down to UNAVAILABLE (503 + Retry-After) — here, not in wrappers around each call.
// 5xx details are never shown to clients; they are logged with the request.
import type { FastifyError, FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import { Type } from 'typebox';
import type { CommonErrors } from './errors.ts';
import { isDependencyDown } from './errors.ts';

export interface ProblemOptions {
  /** Code prefix of the service: "TASKS" gives TASKS_ERR_VALIDATION, … */
  prefix: string;
  /** The service's error table: the common errors of its prefix (and its own). */
  errors: CommonErrors;
  /** The body limit, to say it in the 413 detail. */
  bodyLimit: number;
}

/** The answer's shape, for route schemas (OpenAPI) and clients. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.String(),
    detail: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String()),
    requestId: Type.Optional(Type.String()),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  { description: 'RFC 9457 problem details' },
);

export interface Problem {
  status: number;
  code: string;
  detail: string;
  errors?: { path: string; message: string }[];
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  428: 'Precondition Required',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** The problem a thrown error becomes: the service's own codes pass through, the rest are mapped. */
export function classify(err: FastifyError, opts: ProblemOptions): Problem {
  const { errors } = opts;
  const problem = (e: FastifyError): Problem => ({ status: e.statusCode!, code: e.code, detail: e.message });
  if (err.validation) {
    return {
      ...problem(new errors.VALIDATION(`invalid ${err.validationContext ?? 'request'}`)),
      errors: err.validation.map((v) => ({
        path: `${err.validationContext ?? ''}${v.instancePath || ''}${v.keyword === 'additionalProperties' ? `/${(v.params as { additionalProperty?: string }).additionalProperty}` : ''}`,
        message: v.keyword === 'additionalProperties' ? 'unknown field' : (v.message ?? 'invalid'),
      })),
    };
  }
  if (err.code?.startsWith(`${opts.prefix}_ERR_`) && err.statusCode) return problem(err);
  if (isDependencyDown(err)) return problem(new errors.UNAVAILABLE());
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return problem(new errors.BODY_TOO_LARGE(opts.bodyLimit));
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return problem(new errors.UNSUPPORTED_MEDIA_TYPE());
  }
  // Fastify's JSON parser: bad syntax, empty body, bad content-length, forbidden __proto__ keys.
  if (err.statusCode === 400 && (err instanceof SyntaxError || err.code?.startsWith('FST_ERR_CTP')))
    return problem(new errors.MALFORMED_JSON());
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) return { ...problem(new errors.VALIDATION(err.message)), status };
  return problem(new errors.INTERNAL());
}

export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  if (problem.status === 401) reply.header('www-authenticate', 'Bearer realm="taskfleet"');
  if (problem.status === 503) reply.header('retry-after', '1');
  return reply
    .code(problem.status)
    .type('application/problem+json')
    .send(
      JSON.stringify({
        type: 'about:blank',
        title: TITLES[problem.status] ?? 'Error',
        status: problem.status,
        code: problem.code,
        detail: problem.detail,
        instance: reply.request.url.split('?')[0],
        requestId: reply.request.id,
        ...(problem.errors ? { errors: problem.errors } : {}),
      }),
    );
}

/** The error and not-found handlers of a service. */
export const problemDetails = fp<ProblemOptions>(
  async (app, opts) => {
    app.setErrorHandler((err: FastifyError, request, reply) => {
      const problem = classify(err, opts);
      if (problem.status >= 500) request.log.error({ err }, 'request failed');
      else request.log.info({ code: problem.code, detail: problem.detail }, 'request rejected');
      return sendProblem(reply, problem);
    });
    app.setNotFoundHandler((request, reply) => {
      const e = new opts.errors.ROUTE_NOT_FOUND(request.method, request.url.split('?')[0]);
      return sendProblem(reply, { status: e.statusCode!, code: e.code, detail: e.message });
    });
  },
  { name: 'errors' },
);
