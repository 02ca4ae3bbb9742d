// Test tooling: the error codes docs/errors.md documents for one service, with their statuses, so each
// service's tests can hold its error list and the document in step.
import { readFileSync } from 'node:fs';
import { repoPath } from './paths.ts';

export function documentedErrors(prefix: string): Map<string, number> {
  const doc = readFileSync(repoPath('docs/errors.md'), 'utf8');
  const row = new RegExp(`^\\| \`(${prefix}_ERR_\\w+)\` \\| (\\d{3}) \\|`, 'gm');
  return new Map([...doc.matchAll(row)].map((m) => [m[1]!, Number(m[2])]));
}

/** code → status of a service's errors (classes made with @fastify/error). */
export function errorTable(
  errors: Record<string, new (...args: string[]) => { code: string; statusCode?: number }>,
) {
  return new Map(
    Object.values(errors).map((E) => {
      const e = new E('', '');
      return [e.code, e.statusCode] as const;
    }),
  );
}
