// Errors that mean "the service is overloaded or a dependency is down" — pool exhaustion, PgBouncer's
// query_wait_timeout, statement timeouts, lost or refused connections: a 503 the client may retry,
// never a 500.
const DEPENDENCY_DOWN =
  /timeout exceeded when trying to connect|Connection terminated|ECONNREFUSED|canceling statement due to statement timeout|query_wait_timeout|server login has been failing|no more connections allowed|Query read timeout/i;

export const isDependencyDown = (err: unknown): boolean =>
  err instanceof Error && DEPENDENCY_DOWN.test(err.message);
