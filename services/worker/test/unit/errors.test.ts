import { documentedErrors, errorTable } from '@taskfleet/infra';
import { describe, expect, it } from 'vitest';
import { WorkerErrors } from '../../src/errors.ts';

describe('worker error codes', () => {
  it('are documented in docs/errors.md, all of them and only them, with their status', () => {
    expect(documentedErrors('WORKER')).toEqual(errorTable(WorkerErrors));
  });
});
