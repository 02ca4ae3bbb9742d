// Read-your-writes across service replicas (design §3, GitLab's "sticking"): after a write, the commit's
// WAL position is stored per user in Redis for a short while; that user's reads then only use a replica
// that has replayed at least that far. The position is also handed to the client as a token.
import type { Redis } from 'ioredis';

// Fixed-width hex compares correctly as a string, so "keep the larger position" is one atomic script.
const KEEP_MAX = `
local cur = redis.call('GET', KEYS[1])
if (not cur) or ARGV[1] > cur then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 1`;

const toHex = (lsn: bigint) => lsn.toString(16).padStart(16, '0');

export class ConsistencyTokens {
  private readonly redis: Redis;
  private readonly opts: { prefix: string; ttlSeconds: number; onError: (op: string, err: Error) => void };

  constructor(redis: Redis, opts: ConsistencyTokens['opts']) {
    this.redis = redis;
    this.opts = opts;
  }

  private key(owner: string): string {
    return `${this.opts.prefix}ryw:${owner}`;
  }

  /** Remember `owner`'s write at `lsn`. Failure is reported, not thrown: the write itself succeeded. */
  async record(owner: string, lsn: bigint): Promise<boolean> {
    try {
      await this.redis.eval(KEEP_MAX, 1, this.key(owner), toHex(lsn), this.opts.ttlSeconds);
      return true;
    } catch (err) {
      this.opts.onError('record', err as Error);
      return false;
    }
  }

  /** The owner's last write position; null when none is recent; undefined when the store can't tell. */
  async lastWrite(owner: string): Promise<bigint | null | undefined> {
    try {
      const hex = await this.redis.get(this.key(owner));
      return hex === null ? null : BigInt(`0x${hex}`);
    } catch (err) {
      this.opts.onError('lookup', err as Error);
      return undefined;
    }
  }
}
