// The native stack's tracing settings per replica (components/services.ts): OpenTelemetry's own
// variables pass through; with no receiver named, tracing is off rather than exporting into the void.
import { describe, expect, it } from 'vitest';
import { tracingEnv } from '../../src/components/services.ts';

describe('tracing settings of a native replica', () => {
  it('names the service, and turns tracing off when no receiver is named', () => {
    expect(tracingEnv({}, 'tasks')).toEqual({ OTEL_SERVICE_NAME: 'tasks', OTEL_SDK_DISABLED: 'true' });
  });

  it.each([
    ['a receiver', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }],
    ['a traces receiver', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' }],
    ['an explicit decision', { OTEL_SDK_DISABLED: 'false' }],
  ])('leaves the decision to the environment given %s', (_, env) => {
    expect(tracingEnv(env, 'gateway')).toEqual({ OTEL_SERVICE_NAME: 'gateway' });
  });

  it("gives each replica its own service's name, whatever the environment says", () => {
    expect(tracingEnv({ OTEL_SERVICE_NAME: 'everything', OTEL_SDK_DISABLED: 'true' }, 'worker')).toEqual({
      OTEL_SERVICE_NAME: 'worker',
    });
  });
});
