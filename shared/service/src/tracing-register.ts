// The first module of every service process (`node --import …/tracing-register.ts`): installs the
// module hooks that let OpenTelemetry patch the libraries Taskfleet imports as ES modules, then starts
// the SDK from the environment — before any of the service's own imports run. Under
// OTEL_SDK_DISABLED=true it loads nothing at all.
if (!/^true$/i.test(process.env.OTEL_SDK_DISABLED ?? '')) {
  const { register } = await import('import-in-the-middle/register-hooks.mjs');
  const { INSTRUMENTED, startTracing } = await import('./tracing-sdk.ts');
  // In-thread (synchronous) hooks, and only for the traced libraries: intercepting every module costs
  // about three times the start-up time (docs/operations.md).
  register({ include: INSTRUMENTED.flatMap((name) => [name, `node:${name}`]).concat('https', 'node:https') });
  startTracing();
}
