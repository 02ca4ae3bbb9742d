// PostgreSQL WAL positions ("16/B374D848"): parsed to comparable bigints, printed back, and as
// fixed-width hex for comparisons inside Redis. Events, cache stamps and consistency tokens carry them.
const LSN = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i;

export function parseLsn(text: string): bigint {
  const m = LSN.exec(text);
  if (!m) throw new Error(`not a WAL position: ${text}`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

export function isLsn(text: string): boolean {
  return LSN.test(text);
}

export const maxLsn = (a: bigint | null, b: bigint | null): bigint | null =>
  a === null ? b : b === null ? a : a > b ? a : b;

/** Fixed-width hex of a WAL position: compares correctly as a string (in Lua too). */
export const lsnHex = (lsn: bigint) => lsn.toString(16).padStart(16, '0');
