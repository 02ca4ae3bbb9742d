// Configuration from the environment, read once at boot: strings are converted for integer fields,
// defaults applied, and every problem collected, so a service can add its own cross-field checks and
// fail with one message that lists them all.
import type { TObject } from 'typebox';
import { Type } from 'typebox';
import { Value } from 'typebox/value';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function readEnv(schema: TObject, env: NodeJS.ProcessEnv): { value: unknown; problems: string[] } {
  const input: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(schema.properties)) {
    const raw = env[key];
    if (raw === undefined || raw === '') continue;
    input[key] = (field as { type?: string }).type === 'integer' && /^-?\d+$/.test(raw) ? Number(raw) : raw;
  }
  const value = Value.Default(schema, input);
  const problems = [...Value.Errors(schema, value)].map((e) => {
    const missing = (e.params as { requiredProperties?: string[] }).requiredProperties;
    return `${e.instancePath.replace(/^\//, '') || missing?.join(', ') || '(config)'}: ${e.message}`;
  });
  return { value, problems: [...new Set(problems)] };
}

/** Throw one ConfigError listing every problem, if there is any. */
export function assertNoProblems(problems: string[]): void {
  if (problems.length) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
}

/** An integer setting with a default and bounds. */
export const Int = (min: number, fallback: number, max = Number.MAX_SAFE_INTEGER) =>
  Type.Integer({ minimum: min, maximum: max, default: fallback });

/** A service process's configuration, or exit 2 with every problem on stderr (no stack trace). */
export function configOrExit<T>(service: string, load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${service}: ${err.message}\n`);
    process.exit(2);
  }
}
