import { describe, expect, it } from 'vitest';
import { type Cursor, decodeCursor, encodeCursor, type Sort } from '../../src/cursor.ts';

const ID = '0190a6e2-7c1f-7b3a-9d4e-5f6a7b8c9d0e';
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** The error code decodeCursor fails with (the client's 400), or undefined when it decodes. */
function rejection(text: string, sort: Sort): string | undefined {
  try {
    decodeCursor(text, sort);
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

describe('keyset cursors', () => {
  it.each<Cursor>([
    { sort: 'created', id: ID },
    { sort: 'due', due: '2025-03-01T10:00:00.000Z', id: ID },
    { sort: 'due', due: null, id: ID },
  ])('round-trips %o', (cursor) => {
    const text = encodeCursor(cursor);
    // Travels in a query string untouched.
    expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(text, cursor.sort)).toEqual(cursor);
  });

  it('is opaque: no field names or ids in the clear', () => {
    const text = encodeCursor({ sort: 'created', id: ID });
    expect(text).not.toContain(ID);
    expect(text).not.toContain('created');
  });

  it('belongs to its sort order', () => {
    expect(rejection(encodeCursor({ sort: 'created', id: ID }), 'due')).toBe('TASKS_ERR_BAD_CURSOR');
    expect(rejection(encodeCursor({ sort: 'due', due: null, id: ID }), 'created')).toBe(
      'TASKS_ERR_BAD_CURSOR',
    );
  });

  it.each([
    ['not base64 JSON', 'definitely not a cursor'],
    ['empty', ''],
    ['JSON null', b64(null)],
    ['a JSON string', b64('c')],
    ['no id', b64({ s: 'c' })],
    ['an id that is no UUID', b64({ s: 'c', i: '42' })],
    ['an upper-case UUID', b64({ s: 'c', i: ID.toUpperCase() })],
    ['an unknown sort', b64({ s: 'x', i: ID })],
  ])('rejects %s', (_, text) => {
    expect(rejection(text, 'created')).toBe('TASKS_ERR_BAD_CURSOR');
  });

  it.each([
    ['no due at all', { s: 'd', i: ID }],
    ['a due that is no date', { s: 'd', i: ID, d: 'tomorrow' }],
    ['a numeric due', { s: 'd', i: ID, d: 1_700_000_000 }],
  ])('rejects a due cursor with %s', (_, payload) => {
    expect(rejection(b64(payload), 'due')).toBe('TASKS_ERR_BAD_CURSOR');
  });

  it('answers a bad cursor with a client error, not a server error', () => {
    let status: number | undefined;
    try {
      decodeCursor('junk', 'created');
    } catch (err) {
      status = (err as { statusCode?: number }).statusCode;
    }
    expect(status).toBe(400);
  });
});
