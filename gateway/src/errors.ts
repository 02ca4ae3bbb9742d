// Every error the gateway itself answers with (docs/errors.md): the common ones of every service and
// its own. Errors of the services behind it pass through unchanged, with their own codes.
import createError from '@fastify/error';
import { commonErrors } from '@taskfleet/service';

export const GatewayErrors = {
  ...commonErrors('GATEWAY'),
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
} as const;
