// Every error a client can get from the users service, with its stable code (docs/errors.md; a test
// keeps the two in step): the common ones of every service and its own. Authentication failures say as
// little as possible, on purpose.
import createError from '@fastify/error';
import { commonErrors } from '@taskfleet/service';

export const UsersErrors = {
  ...commonErrors('USERS'),
  INVALID_CREDENTIALS: createError('USERS_ERR_INVALID_CREDENTIALS', 'wrong email or password', 401),
  INVALID_REFRESH_TOKEN: createError(
    'USERS_ERR_INVALID_REFRESH_TOKEN',
    'the refresh token is unknown, expired or revoked; log in again',
    401,
  ),
} as const;
