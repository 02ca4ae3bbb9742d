import { readFileSync } from 'node:fs';
import { repoPath } from '@taskfleet/infra';
import { describe, expect, it } from 'vitest';
import { TASKS_ERROR_CODES, TasksErrors } from '../src/errors.ts';

describe('error codes', () => {
  it('are documented in docs/errors.md, all of them and only them, with their status', () => {
    const doc = readFileSync(repoPath('docs/errors.md'), 'utf8');
    const documented = new Map(
      [...doc.matchAll(/^\| `(TASKS_ERR_\w+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])]),
    );
    expect([...documented.keys()].sort()).toEqual([...TASKS_ERROR_CODES].sort());
    for (const E of Object.values(TasksErrors)) {
      const e = new E('', '');
      expect(documented.get(e.code), e.code).toBe(e.statusCode);
    }
  });
});
