// The first module of every service process (`node --import …/tracing-register.ts`): installs the
// module hooks that let OpenTelemetry patch the libraries Taskfleet imports as ES modules, then starts
// the SDK from the environment — before any of the service's own imports run. Under
// OTEL_SDK_DISABLED=true it does nothing at all (no hooks, no SDK loaded).
import { register } from 'import-in-the-middle/register-hooks.mjs';

if (!/^true$/i.test(process.env.OTEL_SDK_DISABLED ?? '')) {
  const { INSTRUMENTED, startTracing } = await import('./tracing-sdk.ts');
  // In-thread (synchronous) hooks, and only for the traced libraries: intercepting every module cost
  // ≈1.3 s of start-up, this ≈0.4 s (docs/operations.md).
  register({ include: INSTRUMENTED.flatMap((name) => [name, `node:${name}`]).concat('https', 'node:https') });
  startTracing();
}
