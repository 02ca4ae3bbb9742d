import { describe, expect, it } from 'vitest';
import { idempotencyKeyOf, keyDigest, requestFingerprint } from '../../src/idempotency.ts';

describe('idempotencyKeyOf', () => {
  it('is undefined when the header is absent', () => {
    expect(idempotencyKeyOf(undefined)).toBeUndefined();
  });

  it.each(['a', '8e0f2a52-4c6b-4f39-9d1e-0b7c3a6d5e21', 'order:42/retry#1', '!~', 'x'.repeat(255)])(
    'accepts %j as it is',
    (key) => {
      expect(idempotencyKeyOf(key)).toBe(key);
    },
  );

  it.each([
    ['empty', ''],
    ['with a space', 'order 42'],
    ['with a tab', 'a\tb'],
    ['longer than 255 characters', 'x'.repeat(256)],
    ['not ASCII', 'clé'],
    ['with a control character', 'a\u0000b'],
  ])('calls a key %s invalid', (_, key) => {
    expect(idempotencyKeyOf(key)).toBe('invalid');
  });

  it('calls a repeated header invalid, even when the copies agree', () => {
    expect(idempotencyKeyOf(['k1', 'k2'])).toBe('invalid');
    expect(idempotencyKeyOf(['k1', 'k1'])).toBe('invalid');
    expect(idempotencyKeyOf(['k1'])).toBe('invalid');
  });
});

describe('keyDigest', () => {
  it('is 32 bytes whatever the key length, and differs between keys', () => {
    expect(keyDigest('a')).toHaveLength(32);
    expect(keyDigest('x'.repeat(255))).toHaveLength(32);
    expect(keyDigest('a').equals(keyDigest('a'))).toBe(true);
    expect(keyDigest('a').equals(keyDigest('b'))).toBe(false);
  });
});

describe('requestFingerprint', () => {
  const body = Buffer.from('{"title":"write tests"}');
  const base = requestFingerprint('POST', '/v1/tasks', body);

  it('is the same for the same request', () => {
    expect(requestFingerprint('POST', '/v1/tasks', Buffer.from('{"title":"write tests"}')).equals(base)).toBe(
      true,
    );
    expect(requestFingerprint('DELETE', '/v1/tasks/1', undefined)).toEqual(
      requestFingerprint('DELETE', '/v1/tasks/1', undefined),
    );
  });

  it.each([
    ['method', () => requestFingerprint('PUT', '/v1/tasks', body)],
    ['path', () => requestFingerprint('POST', '/v1/tasks/1', body)],
    ['query', () => requestFingerprint('POST', '/v1/tasks?x=1', body)],
    ['body', () => requestFingerprint('POST', '/v1/tasks', Buffer.from('{"title":"write more tests"}'))],
    [
      'body bytes, same JSON',
      () => requestFingerprint('POST', '/v1/tasks', Buffer.from('{ "title": "write tests" }')),
    ],
    ['missing body', () => requestFingerprint('POST', '/v1/tasks', undefined)],
  ])('differs when the %s differs', (_, other) => {
    expect(other().equals(base)).toBe(false);
  });

  it('cannot be fooled by moving text between the URL and the body', () => {
    // The URL ends at a newline, so "…/tasks" + "x…" and "…/tasksx" + "…" stay apart.
    const a = requestFingerprint('POST', '/v1/tasks', Buffer.from('x{}'));
    const b = requestFingerprint('POST', '/v1/tasksx', Buffer.from('{}'));
    expect(a.equals(b)).toBe(false);
  });

  it('treats no body and an empty body alike (both are zero bytes on the wire)', () => {
    expect(requestFingerprint('POST', '/v1/x', undefined)).toEqual(
      requestFingerprint('POST', '/v1/x', Buffer.alloc(0)),
    );
  });
});
