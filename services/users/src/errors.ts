// Every error a client can get from the users service, with its stable code (docs/errors.md; a test
// keeps the two in step). Authentication failures say as little as possible, on purpose.
import createError from '@fastify/error';

export const UsersErrors = {
  VALIDATION: createError('USERS_ERR_VALIDATION', '%s', 400),
  MALFORMED_JSON: createError('USERS_ERR_MALFORMED_JSON', 'the request body is not valid JSON', 400),
  INVALID_CREDENTIALS: createError('USERS_ERR_INVALID_CREDENTIALS', 'wrong email or password', 401),
  INVALID_REFRESH_TOKEN: createError(
    'USERS_ERR_INVALID_REFRESH_TOKEN',
    'the refresh token is unknown, expired or revoked; log in again',
    401,
  ),
  UNAUTHORIZED: createError('USERS_ERR_UNAUTHORIZED', '%s', 401),
  ROUTE_NOT_FOUND: createError('USERS_ERR_ROUTE_NOT_FOUND', 'no such route: %s %s', 404),
  BODY_TOO_LARGE: createError('USERS_ERR_BODY_TOO_LARGE', 'the request body is larger than %s bytes', 413),
  UNSUPPORTED_MEDIA_TYPE: createError('USERS_ERR_UNSUPPORTED_MEDIA_TYPE', 'send application/json', 415),
  UNAVAILABLE: createError(
    'USERS_ERR_UNAVAILABLE',
    'the service is overloaded or a dependency is down; retry later',
    503,
  ),
  INTERNAL: createError('USERS_ERR_INTERNAL', 'internal error', 500),
} as const;
