// Every error the gateway itself answers with (docs/errors.md). Errors of the services behind it pass
// through unchanged, with their own codes.
import createError from '@fastify/error';

export const GatewayErrors = {
  VALIDATION: createError('GATEWAY_ERR_VALIDATION', '%s', 400),
  MALFORMED_JSON: createError('GATEWAY_ERR_MALFORMED_JSON', 'the request body is not valid JSON', 400),
  UNAUTHORIZED: createError('GATEWAY_ERR_UNAUTHORIZED', '%s', 401),
  ROUTE_NOT_FOUND: createError('GATEWAY_ERR_ROUTE_NOT_FOUND', 'no such route: %s %s', 404),
  BODY_TOO_LARGE: createError('GATEWAY_ERR_BODY_TOO_LARGE', 'the request body is larger than %s bytes', 413),
  UNSUPPORTED_MEDIA_TYPE: createError('GATEWAY_ERR_UNSUPPORTED_MEDIA_TYPE', 'send application/json', 415),
  IDEMPOTENCY_IN_FLIGHT: createError(
    'GATEWAY_ERR_IDEMPOTENCY_IN_FLIGHT',
    'a request with this Idempotency-Key is still running; retry shortly',
    409,
  ),
  IDEMPOTENCY_KEY_REUSED: createError(
    'GATEWAY_ERR_IDEMPOTENCY_KEY_REUSED',
    'this Idempotency-Key was used for a different request',
    422,
  ),
  IDEMPOTENCY_UNAVAILABLE: createError(
    'GATEWAY_ERR_IDEMPOTENCY_UNAVAILABLE',
    'idempotency keys cannot be honoured right now; retry later',
    503,
  ),
  RATE_LIMITED: createError('GATEWAY_ERR_RATE_LIMITED', 'too many requests; retry in %s', 429),
  BAD_GATEWAY: createError('GATEWAY_ERR_BAD_GATEWAY', 'the %s service failed to answer', 502),
  UPSTREAM_UNAVAILABLE: createError(
    'GATEWAY_ERR_UPSTREAM_UNAVAILABLE',
    'no replica of the %s service is available; retry later',
    503,
  ),
  OVERLOADED: createError('GATEWAY_ERR_OVERLOADED', 'the gateway is overloaded; retry later', 503),
  UPSTREAM_TIMEOUT: createError('GATEWAY_ERR_UPSTREAM_TIMEOUT', 'the %s service did not answer in time', 504),
  INTERNAL: createError('GATEWAY_ERR_INTERNAL', 'internal error', 500),
} as const;
