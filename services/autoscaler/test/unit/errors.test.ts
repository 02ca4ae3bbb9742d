import { documentedErrors, errorTable } from '@taskfleet/infra';
import { describe, expect, it } from 'vitest';
import { AutoscalerErrors } from '../../src/errors.ts';

describe('autoscaler error codes', () => {
  it('are documented in docs/errors.md, all of them and only them, with their status', () => {
    expect(documentedErrors('AUTOSCALER')).toEqual(errorTable(AutoscalerErrors));
  });
});
