// The log redaction every service's logger applies (serviceLogger): secrets at any depth, nothing else
// touched, the logged object itself never changed.
import { describe, expect, it } from 'vitest';
import { redactSecrets } from '../../src/server.ts';

describe('redactSecrets', () => {
  it('censors credential headers and secret fields at any depth, whatever their case', () => {
    const logged = {
      headers: { Authorization: 'Bearer a', cookie: 'c' },
      upstream: { response: { headers: { 'set-cookie': ['s=1'] } } },
      body: { email: 'me@example.test', password: 'p' },
      batch: [{ refreshToken: 'r' }, { ok: true }],
      deep: { a: { b: { c: { d: { accessToken: 'x' } } } } },
      token: 't',
      oauth: { client_secret: 'cs', access_token: 'at', 'Client-Secret': 'xs' },
    };
    expect(redactSecrets(logged)).toEqual({
      headers: { Authorization: '[redacted]', cookie: '[redacted]' },
      upstream: { response: { headers: { 'set-cookie': '[redacted]' } } },
      body: { email: 'me@example.test', password: '[redacted]' },
      batch: [{ refreshToken: '[redacted]' }, { ok: true }],
      deep: { a: { b: { c: { d: { accessToken: '[redacted]' } } } } },
      token: '[redacted]',
      oauth: { client_secret: '[redacted]', access_token: '[redacted]', 'Client-Secret': '[redacted]' },
    });
    // The caller's object is left as it was.
    expect(logged.body.password).toBe('p');
    expect(logged.headers.Authorization).toBe('Bearer a');
  });

  it('returns the very same object when there is nothing to censor (no copy on the hot path)', () => {
    const line = { req: { method: 'GET', url: '/v1/tasks' }, res: { statusCode: 200 }, responseTime: 1.5 };
    expect(redactSecrets(line)).toBe(line);
    expect(redactSecrets(null)).toBeNull();
    expect(redactSecrets('password')).toBe('password');
  });

  it('keeps an error an error, with its message and stack, when it carries a secret', () => {
    const err = Object.assign(new TypeError('upstream refused'), {
      config: { headers: { authorization: 'a' } },
    });
    const clean = redactSecrets({ err }).err;
    expect(clean).toBeInstanceOf(TypeError);
    expect(clean.message).toBe('upstream refused');
    expect(clean.stack).toBe(err.stack);
    expect(clean.config.headers.authorization).toBe('[redacted]');
    expect(err.config.headers.authorization).toBe('a');
  });

  it('stops at a bounded depth and survives cycles', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    expect(() => redactSecrets(cyclic)).not.toThrow();
  });
});
