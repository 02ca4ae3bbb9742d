import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { VerifiedTokens } from '../../src/verified-tokens.ts';

const START = new Date('2025-03-01T10:00:00Z').getTime();
const MINUTE = 60_000;
const claimsExpiringIn = (ms: number) => ({ sub: 'user-1', exp: Math.floor((START + ms) / 1000) });

describe('VerifiedTokens', () => {
  beforeEach(() => {
    // The expiry check reads Date.now(); lru-cache's max age reads performance.now() of the global
    // `performance` it captured at import (faking `performance` would swap in an object it never sees)
    // and caches that reading until a timer fires. So: fake Date and timers, and drive
    // performance.now() from the fake clock (never 0: lru-cache reads a start time of 0 as "none").
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'], now: START });
    vi.spyOn(performance, 'now').mockImplementation(() => Date.now() - START + 1_000);
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('returns the claims of a token it was told about, and nothing for others', () => {
    const tokens = new VerifiedTokens();
    const claims = claimsExpiringIn(15 * MINUTE);
    tokens.remember('token-a', claims);
    expect(tokens.get('token-a')).toEqual(claims);
    expect(tokens.get('token-b')).toBeUndefined();
    expect(tokens.get('token-a ')).toBeUndefined();
  });

  it('forgets a token when it expires', () => {
    const tokens = new VerifiedTokens();
    tokens.remember('t', claimsExpiringIn(2 * MINUTE));
    vi.advanceTimersByTime(2 * MINUTE - 1);
    expect(tokens.get('t')).toBeDefined();
    vi.advanceTimersByTime(1);
    expect(tokens.get('t')).toBeUndefined();
    expect(tokens.size).toBe(0);
  });

  it('keeps no token longer than five minutes, however long it is valid', () => {
    const tokens = new VerifiedTokens();
    tokens.remember('t', claimsExpiringIn(60 * MINUTE));
    vi.advanceTimersByTime(5 * MINUTE - 1);
    expect(tokens.get('t')).toBeDefined();
    vi.advanceTimersByTime(2);
    expect(tokens.get('t')).toBeUndefined();
  });

  it('does not remember a token that has already expired', () => {
    const tokens = new VerifiedTokens();
    tokens.remember('past', claimsExpiringIn(-MINUTE));
    tokens.remember('now', claimsExpiringIn(0));
    expect(tokens.size).toBe(0);
    expect(tokens.get('past')).toBeUndefined();
  });

  it('forgets everything when cleared (the key set changed)', () => {
    const tokens = new VerifiedTokens();
    tokens.remember('a', claimsExpiringIn(MINUTE));
    tokens.remember('b', claimsExpiringIn(MINUTE));
    tokens.clear();
    expect(tokens.size).toBe(0);
    expect(tokens.get('a')).toBeUndefined();
    expect(tokens.get('b')).toBeUndefined();
  });

  it('holds at most `max` tokens, dropping the least recently used', () => {
    const tokens = new VerifiedTokens({ max: 2 });
    tokens.remember('a', claimsExpiringIn(MINUTE));
    tokens.remember('b', claimsExpiringIn(MINUTE));
    tokens.get('a');
    tokens.remember('c', claimsExpiringIn(MINUTE));
    expect(tokens.size).toBe(2);
    expect(tokens.get('b')).toBeUndefined();
    expect(tokens.get('a')).toBeDefined();
    expect(tokens.get('c')).toBeDefined();
  });
});
