// One place that turns every error into RFC 9457 problem details (application/problem+json) with a
// stable code. 5xx messages are never shown to clients; they are logged with the request.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { TasksErrors } from '../errors.ts';

interface Problem {
  status: number;
  code: string;
  detail: string;
  errors?: { path: string; message: string }[];
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  428: 'Precondition Required',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

function classify(err: FastifyError, request: FastifyRequest): Problem {
  if (err.validation) {
    return {
      status: 400,
      code: 'TASKS_ERR_VALIDATION',
      detail: `invalid ${err.validationContext ?? 'request'}`,
      errors: err.validation.map((v) => ({
        path: `${err.validationContext ?? ''}${v.instancePath || ''}${v.keyword === 'additionalProperties' ? `/${(v.params as { additionalProperty?: string }).additionalProperty}` : ''}`,
        message: v.keyword === 'additionalProperties' ? 'unknown field' : (v.message ?? 'invalid'),
      })),
    };
  }
  if (err.code?.startsWith('TASKS_ERR_') && err.statusCode)
    return { status: err.statusCode, code: err.code, detail: err.message };
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        status: 413,
        code: 'TASKS_ERR_BODY_TOO_LARGE',
        detail: new TasksErrors.BODY_TOO_LARGE(request.server.config.BODY_LIMIT).message,
      };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        status: 415,
        code: 'TASKS_ERR_UNSUPPORTED_MEDIA_TYPE',
        detail: new TasksErrors.UNSUPPORTED_MEDIA_TYPE().message,
      };
  }
  // Fastify's JSON parser: bad syntax, empty body, bad content-length, forbidden __proto__ keys.
  if (err.statusCode === 400 && (err instanceof SyntaxError || err.code?.startsWith('FST_ERR_CTP'))) {
    return {
      status: 400,
      code: 'TASKS_ERR_MALFORMED_JSON',
      detail: new TasksErrors.MALFORMED_JSON().message,
    };
  }
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) return { status, code: 'TASKS_ERR_VALIDATION', detail: err.message };
  return { status: 500, code: 'TASKS_ERR_INTERNAL', detail: 'internal error' };
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

export default fp(
  async (app) => {
    app.setErrorHandler((err: FastifyError, request, reply) => {
      const problem = classify(err, request);
      if (problem.status >= 500) request.log.error({ err }, 'request failed');
      else request.log.info({ code: problem.code, detail: problem.detail }, 'request rejected');
      return sendProblem(reply, problem);
    });
    app.setNotFoundHandler((request, reply) =>
      sendProblem(reply, {
        status: 404,
        code: 'TASKS_ERR_ROUTE_NOT_FOUND',
        detail: new TasksErrors.ROUTE_NOT_FOUND(request.method, request.url.split('?')[0]).message,
      }),
    );
  },
  { name: 'errors', dependencies: ['config'] },
);
