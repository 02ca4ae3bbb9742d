// Password hashing: argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane) — about 35 ms on
// one core of the CI machine. Hashing is expensive on purpose, so it is bounded: at most `concurrency`
// at once, `queue` more waiting, and beyond that the caller is told to come back (503) instead of the
// process drowning under a login flood.
import type { Algorithm } from '@node-rs/argon2';
import { hash, verify } from '@node-rs/argon2';
import { Overloaded } from '@taskfleet/service';

const ARGON2ID = 2 as Algorithm; // a const enum in the typings; its runtime value
export const HASH_OPTIONS = { algorithm: ARGON2ID, memoryCost: 19_456, timeCost: 2, parallelism: 1 };

/** An argon2id hash with today's parameters (or others, to test upgrades). */
export const hashPassword = (password: string, overrides: Partial<typeof HASH_OPTIONS> = {}) =>
  hash(password, { ...HASH_OPTIONS, ...overrides });

/** Too many hashes waiting: a 503 the client may retry (the error handler maps Overloaded). */
export class HashingOverloaded extends Overloaded {
  override name = 'HashingOverloaded';
}

export class PasswordHasher {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  /** A real hash of a random password: unknown users are "verified" against it, so they take as long. */
  private dummy: Promise<string> | undefined;

  private readonly limits: { concurrency: number; queue: number };

  constructor(limits: { concurrency: number; queue: number }) {
    this.limits = limits;
  }

  hash(password: string): Promise<string> {
    return this.bounded(() => hashPassword(password));
  }

  /** True if `password` matches `stored`; with no stored hash, spends the same time and says false. */
  async verify(stored: string | undefined, password: string): Promise<boolean> {
    this.dummy ??= hashPassword(crypto.randomUUID());
    const target = stored ?? (await this.dummy);
    const ok = await this.bounded(() => verify(target, password).catch(() => false));
    return ok && stored !== undefined;
  }

  /** A stored hash made with weaker parameters than today's: rehash it at the next successful login. */
  needsRehash(stored: string): boolean {
    const m = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(stored);
    if (!m) return true;
    return Number(m[1]) < HASH_OPTIONS.memoryCost || Number(m[2]) < HASH_OPTIONS.timeCost;
  }

  private async bounded<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.limits.concurrency) {
      if (this.waiting.length >= this.limits.queue)
        throw new HashingOverloaded('password hashing queue full');
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.running++;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next)
        next(); // hand the slot over
      else this.running--;
    }
  }
}
