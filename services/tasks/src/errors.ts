// Every error a client can get from the task service, with its stable code. docs/errors.md documents
// each one; a test keeps the two in step. Clients receive them as application/problem+json.
import createError from '@fastify/error';

export const TasksErrors = {
  VALIDATION: createError('TASKS_ERR_VALIDATION', '%s', 400),
  MALFORMED_JSON: createError('TASKS_ERR_MALFORMED_JSON', 'the request body is not valid JSON', 400),
  BAD_CURSOR: createError(
    'TASKS_ERR_BAD_CURSOR',
    'the cursor is malformed or belongs to a different sort order',
    400,
  ),
  BAD_CONSISTENCY_TOKEN: createError(
    'TASKS_ERR_BAD_CONSISTENCY_TOKEN',
    'the consistency token is malformed',
    400,
  ),
  UNAUTHORIZED: createError('TASKS_ERR_UNAUTHORIZED', '%s', 401),
  NOT_FOUND: createError('TASKS_ERR_NOT_FOUND', 'no such task', 404),
  ROUTE_NOT_FOUND: createError('TASKS_ERR_ROUTE_NOT_FOUND', 'no such route: %s %s', 404),
  PRECONDITION_FAILED: createError(
    'TASKS_ERR_PRECONDITION_FAILED',
    'the task has changed since you read it (version %s now)',
    412,
  ),
  IDEMPOTENCY_KEY_REUSED: createError(
    'TASKS_ERR_IDEMPOTENCY_KEY_REUSED',
    'this Idempotency-Key was used for a different request',
    422,
  ),
  BODY_TOO_LARGE: createError('TASKS_ERR_BODY_TOO_LARGE', 'the request body is larger than %s bytes', 413),
  UNSUPPORTED_MEDIA_TYPE: createError('TASKS_ERR_UNSUPPORTED_MEDIA_TYPE', 'send application/json', 415),
  PRECONDITION_REQUIRED: createError(
    'TASKS_ERR_PRECONDITION_REQUIRED',
    'send If-Match with the ETag of the version you are changing',
    428,
  ),
  UNAVAILABLE: createError(
    'TASKS_ERR_UNAVAILABLE',
    'the service is overloaded or a dependency is down; retry later',
    503,
  ),
  INTERNAL: createError('TASKS_ERR_INTERNAL', 'internal error', 500),
} as const;
