// Opaque keyset cursors: the position of the last row of a page (never an OFFSET). Base64url JSON that
// the client passes back untouched; anything that doesn't decode to a valid position is a 400.
import { TasksErrors } from './errors.ts';

export type Sort = 'created' | 'due';

export type Cursor =
  | { sort: 'created'; id: string }
  /** due: null means the position is already among the undated tasks (listed after all dated ones). */
  | { sort: 'due'; due: string | null; id: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function encodeCursor(cursor: Cursor): string {
  const payload =
    cursor.sort === 'created' ? { s: 'c', i: cursor.id } : { s: 'd', i: cursor.id, d: cursor.due };
  return Buffer.from(JSON.stringify(payload)).toString('base64url');
}

export function decodeCursor(text: string, sort: Sort): Cursor {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw new TasksErrors.BAD_CURSOR();
  }
  const c = raw as { s?: unknown; i?: unknown; d?: unknown };
  if (typeof c !== 'object' || c === null || typeof c.i !== 'string' || !UUID.test(c.i))
    throw new TasksErrors.BAD_CURSOR();
  if (sort === 'created' && c.s === 'c') return { sort, id: c.i };
  if (
    sort === 'due' &&
    c.s === 'd' &&
    (c.d === null || (typeof c.d === 'string' && Number.isFinite(Date.parse(c.d))))
  ) {
    return { sort, id: c.i, due: c.d as string | null };
  }
  throw new TasksErrors.BAD_CURSOR();
}
