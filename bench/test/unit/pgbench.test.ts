// The pgbench scripts the ceilings run are the service's own statements, every placeholder bound.
import { createTaskQuery, GET_TASK_SQL } from '@taskfleet/tasks';
import { describe, expect, it } from 'vitest';
import { bindAsExpressions, readScript, writeScript } from '../../src/pgbench.ts';

describe('pgbench scripts', () => {
  it('bind every placeholder of the service statements, and nothing else', () => {
    expect(bindAsExpressions('select $1, $2, $10', ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'])).toBe(
      'select a, b, j',
    );
    expect(() => bindAsExpressions('select $3', ['a'])).toThrow('no expression for $3');
    const read = readScript();
    expect(read).toContain(
      'from tasks where owner_id = taskfleet_bench.key_owner(:n) and id = taskfleet_bench.key_id(:n)',
    );
    expect(read).not.toMatch(/\$\d/);
    expect(GET_TASK_SQL).toContain('$2');
    const write = writeScript();
    expect(write).not.toMatch(/\$\d/);
    expect(write).toContain('insert into outbox');
    expect(write).toContain('insert into idempotency_keys');
    expect(write).toContain(createTaskQuery('x', { title: 'y' }).text.slice(0, 40));
  });
});
