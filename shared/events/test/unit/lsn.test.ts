import { describe, expect, it } from 'vitest';
import { formatLsn, isLsn, lsnHex, maxLsn, parseLsn } from '../../src/lsn.ts';

describe('WAL positions', () => {
  it('parses the high and low 32-bit halves', () => {
    expect(parseLsn('16/B374D848')).toBe((0x16n << 32n) | 0xb374d848n);
    expect(parseLsn('0/0')).toBe(0n);
    expect(parseLsn('FFFFFFFF/FFFFFFFF')).toBe(2n ** 64n - 1n);
  });

  it('accepts lower-case hex', () => {
    expect(parseLsn('16/b374d848')).toBe(parseLsn('16/B374D848'));
  });

  it.each(['', '16B374D848', '16/', '/1', '1/2/3', 'G/0', '123456789/0', '0/123456789', ' 0/1', '-1/0'])(
    'rejects %j',
    (text) => {
      expect(isLsn(text)).toBe(false);
      expect(() => parseLsn(text)).toThrow(/not a WAL position/);
    },
  );

  it('formats as PostgreSQL prints it: upper case, no padding', () => {
    expect(formatLsn((0x16n << 32n) | 0xb374d848n)).toBe('16/B374D848');
    expect(formatLsn(0n)).toBe('0/0');
    expect(formatLsn(0x1_0000_000an)).toBe('1/A');
  });

  it('round-trips', () => {
    for (const text of ['0/0', '0/1', '1/0', '16/B374D848', 'FFFFFFFF/FFFFFFFF', 'A/5000028'])
      expect(formatLsn(parseLsn(text))).toBe(text);
    expect(formatLsn(parseLsn('00000016/0000D848'))).toBe('16/D848');
  });

  it('orders by position, where the text does not', () => {
    // As strings "9/0" > "10/0" and "1/FFFFFFFF" > "2/0"; as positions it is the other way round.
    expect(parseLsn('10/0') > parseLsn('9/0')).toBe(true);
    expect(parseLsn('2/0') > parseLsn('1/FFFFFFFF')).toBe(true);
    expect(parseLsn('0/10') > parseLsn('0/F')).toBe(true);
  });

  it('has a fixed-width hex form whose string order is the position order', () => {
    const texts = ['0/0', '0/F', '0/10', '9/0', '10/0', '1/FFFFFFFF', '2/0', 'FFFFFFFF/FFFFFFFF'];
    const byPosition = [...texts].sort((a, b) => (parseLsn(a) < parseLsn(b) ? -1 : 1));
    const byHex = [...texts].sort((a, b) => (lsnHex(parseLsn(a)) < lsnHex(parseLsn(b)) ? -1 : 1));
    expect(byHex).toEqual(byPosition);
    for (const t of texts) expect(lsnHex(parseLsn(t))).toHaveLength(16);
    expect(lsnHex(parseLsn('16/B374D848'))).toBe('00000016b374d848');
  });

  it('takes the later of two positions, either of which may be missing', () => {
    expect(maxLsn(5n, 7n)).toBe(7n);
    expect(maxLsn(7n, 5n)).toBe(7n);
    expect(maxLsn(null, 5n)).toBe(5n);
    expect(maxLsn(5n, null)).toBe(5n);
    expect(maxLsn(null, null)).toBeNull();
    expect(maxLsn(0n, null)).toBe(0n);
  });
});
