// The event contract every consumer relies on.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { TaskEvent } from '../../src/index.ts';
import { formatLsn, lsnHex, parseLsn, parseTaskEvent } from '../../src/index.ts';

const event: TaskEvent = {
  id: randomUUID(),
  type: 'task.updated',
  occurredAt: '2026-11-23T10:00:00.000Z',
  ownerId: randomUUID(),
  taskId: randomUUID(),
  version: 2,
  lsn: '16/B374D848',
};
const body = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('task events', () => {
  it('parses a well-formed event', () => {
    expect(parseTaskEvent(body(event))).toEqual(event);
  });

  it.each([
    ['not JSON', Buffer.from('poison')],
    ['null', body(null)],
    ['an unknown type', body({ ...event, type: 'task.archived' })],
    ['a bad id', body({ ...event, id: 'x' })],
    ['a bad owner', body({ ...event, ownerId: '../etc' })],
    ['a fractional version', body({ ...event, version: 1.5 })],
    ['a bad timestamp', body({ ...event, occurredAt: 'yesterday' })],
    ['a bad WAL position', body({ ...event, lsn: '16:B374D848' })],
    ['a missing field', body({ ...event, taskId: undefined })],
  ])('rejects %s', (_, message) => {
    expect(() => parseTaskEvent(message)).toThrow();
  });
});

describe('WAL positions', () => {
  it('round-trips and orders as numbers, and as fixed-width hex strings', () => {
    const positions = ['0/0', '0/FFFFFFFF', '1/0', '16/B374D848', 'FFFFFFFF/FFFFFFFF'];
    for (const p of positions) expect(formatLsn(parseLsn(p))).toBe(p);
    const values = positions.map(parseLsn);
    const hex = values.map(lsnHex);
    expect([...hex].sort()).toEqual(hex); // string order = numeric order (what the Lua scripts compare)
    expect(values.every((v, i) => i === 0 || v > values[i - 1]!)).toBe(true);
    expect(() => parseLsn('16/B374D848/1')).toThrow();
  });
});
