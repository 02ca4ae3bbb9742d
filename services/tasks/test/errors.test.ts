import { documentedErrors, errorTable } from '@taskfleet/infra';
import { describe, expect, it } from 'vitest';
import { TasksErrors } from '../src/errors.ts';

describe('error codes', () => {
  it('are documented in docs/errors.md, all of them and only them, with their status', () => {
    expect(documentedErrors('TASKS')).toEqual(errorTable(TasksErrors));
  });
});
