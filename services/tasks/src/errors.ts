// Every error a client can get from the task service, with its stable code: the common ones of every
// service and the task API's own. docs/errors.md documents each; a test keeps the two in step. Clients
// receive them as application/problem+json.
import createError from '@fastify/error';
import { commonErrors } from '@taskfleet/service';

export const TasksErrors = {
  ...commonErrors('TASKS'),
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
  NOT_FOUND: createError('TASKS_ERR_NOT_FOUND', 'no such task', 404),
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
  PRECONDITION_REQUIRED: createError(
    'TASKS_ERR_PRECONDITION_REQUIRED',
    'send If-Match with the ETag of the version you are changing',
    428,
  ),
} as const;
