// One place that turns every error into RFC 9457 problem details (application/problem+json) with a
// stable code. A service's own errors carry codes `<PREFIX>_ERR_*` (made with @fastify/error) and pass
// through; framework errors are mapped to the generic codes every service documents: VALIDATION,
// MALFORMED_JSON, BODY_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, ROUTE_NOT_FOUND, INTERNAL. 5xx details are
// never shown to clients; they are logged with the request.
import type { FastifyError, FastifyReply } from 'fastify';
import fp from 'fastify-plugin';

export interface ProblemOptions {
  /** Code prefix of the service: "TASKS" gives TASKS_ERR_VALIDATION, … */
  prefix: string;
  /** The body limit, to say it in the 413 detail. */
  bodyLimit: number;
}

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

function classify(err: FastifyError, opts: ProblemOptions): Problem {
  const code = (name: string) => `${opts.prefix}_ERR_${name}`;
  if (err.validation) {
    return {
      status: 400,
      code: code('VALIDATION'),
      detail: `invalid ${err.validationContext ?? 'request'}`,
      errors: err.validation.map((v) => ({
        path: `${err.validationContext ?? ''}${v.instancePath || ''}${v.keyword === 'additionalProperties' ? `/${(v.params as { additionalProperty?: string }).additionalProperty}` : ''}`,
        message: v.keyword === 'additionalProperties' ? 'unknown field' : (v.message ?? 'invalid'),
      })),
    };
  }
  if (err.code?.startsWith(code('')) && err.statusCode)
    return { status: err.statusCode, code: err.code, detail: err.message };
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        status: 413,
        code: code('BODY_TOO_LARGE'),
        detail: `the request body is larger than ${opts.bodyLimit} bytes`,
      };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, code: code('UNSUPPORTED_MEDIA_TYPE'), detail: 'send application/json' };
  }
  // Fastify's JSON parser: bad syntax, empty body, bad content-length, forbidden __proto__ keys.
  if (err.statusCode === 400 && (err instanceof SyntaxError || err.code?.startsWith('FST_ERR_CTP'))) {
    return { status: 400, code: code('MALFORMED_JSON'), detail: 'the request body is not valid JSON' };
  }
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) return { status, code: code('VALIDATION'), detail: err.message };
  return { status: 500, code: code('INTERNAL'), detail: 'internal error' };
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
    app.setNotFoundHandler((request, reply) =>
      sendProblem(reply, {
        status: 404,
        code: `${opts.prefix}_ERR_ROUTE_NOT_FOUND`,
        detail: `no such route: ${request.method} ${request.url.split('?')[0]}`,
      }),
    );
  },
  { name: 'errors' },
);
