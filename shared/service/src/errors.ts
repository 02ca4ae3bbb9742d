// The errors every service has, made once per service prefix: "TASKS" gives TASKS_ERR_VALIDATION, …
// A service spreads these into its own table and adds its domain errors, so the generic ones are
// spelled the same everywhere and the error handler (problems.ts) raises exactly these. docs/errors.md
// lists each service's table; a test per service keeps the two in step.
import createError from '@fastify/error';

export function commonErrors<P extends string>(prefix: P) {
  const code = <N extends string>(name: N) => `${prefix}_ERR_${name}` as const;
  return {
    VALIDATION: createError(code('VALIDATION'), '%s', 400),
    MALFORMED_JSON: createError(code('MALFORMED_JSON'), 'the request body is not valid JSON', 400),
    UNAUTHORIZED: createError(code('UNAUTHORIZED'), '%s', 401),
    ROUTE_NOT_FOUND: createError(code('ROUTE_NOT_FOUND'), 'no such route: %s %s', 404),
    BODY_TOO_LARGE: createError(code('BODY_TOO_LARGE'), 'the request body is larger than %s bytes', 413),
    UNSUPPORTED_MEDIA_TYPE: createError(code('UNSUPPORTED_MEDIA_TYPE'), 'send application/json', 415),
    UNAVAILABLE: createError(
      code('UNAVAILABLE'),
      'the service is overloaded or a dependency is down; retry later',
      503,
    ),
    INTERNAL: createError(code('INTERNAL'), 'internal error', 500),
  };
}

export type CommonErrors = ReturnType<typeof commonErrors>;

/**
 * Work refused because the process is at a bound it sets itself (a full queue of password hashes,
 * say): like a dependency that is down, a 503 the client may retry, never a 500.
 */
export class Overloaded extends Error {
  override name = 'Overloaded';
}

// Errors that mean "a dependency is down or overloaded" — pool exhaustion, PgBouncer's
// query_wait_timeout, statement timeouts, lost or refused connections.
const DEPENDENCY_DOWN =
  /timeout exceeded when trying to connect|Connection terminated|ECONNREFUSED|canceling statement due to statement timeout|query_wait_timeout|server login has been failing|no more connections allowed|Query read timeout/i;

export const isDependencyDown = (err: unknown): boolean =>
  err instanceof Overloaded || (err instanceof Error && DEPENDENCY_DOWN.test(err.message));
