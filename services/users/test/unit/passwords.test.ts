import { afterEach, describe, expect, it, vi } from 'vitest';
import { HASH_OPTIONS, HashingOverloaded, hashPassword, PasswordHasher } from '../../src/passwords.ts';

// argon2 itself stays real except where a test holds hashes open to count how many run at once.
const argon2 = vi.hoisted(() => ({ hold: undefined as (() => Promise<string>) | undefined }));
vi.mock('@node-rs/argon2', async (importOriginal) => {
  const real = await importOriginal<typeof import('@node-rs/argon2')>();
  return {
    ...real,
    hash: (...args: Parameters<typeof real.hash>) => (argon2.hold ? argon2.hold() : real.hash(...args)),
  };
});

/** Hashes that finish only when told to, counting how many are running. */
function heldHashes() {
  const running: (() => void)[] = [];
  let peak = 0;
  argon2.hold = () =>
    new Promise<string>((resolve) => {
      running.push(() => resolve('$argon2id$held'));
      peak = Math.max(peak, running.length);
    });
  return {
    get running() {
      return running.length;
    },
    get peak() {
      return peak;
    },
    /** Let the oldest running hash finish, and the hasher start the next one. */
    async finishOne() {
      running.shift()?.();
      await new Promise((r) => setImmediate(r));
    },
  };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('PasswordHasher limits', () => {
  afterEach(() => {
    argon2.hold = undefined;
  });

  it('runs at most `concurrency` hashes at once and queues the rest in order', async () => {
    const held = heldHashes();
    const hasher = new PasswordHasher({ concurrency: 2, queue: 3 });
    const order: number[] = [];
    const all = [0, 1, 2, 3, 4].map((i) => hasher.hash(`pw${i}`).then(() => order.push(i)));
    await settle();
    expect(held.running).toBe(2);
    for (let i = 0; i < 5; i++) await held.finishOne();
    await Promise.all(all);
    expect(held.peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4]);
  });

  it('refuses at once when the queue is full, and takes work again once it drains', async () => {
    const held = heldHashes();
    const hasher = new PasswordHasher({ concurrency: 1, queue: 1 });
    const first = hasher.hash('a');
    const queued = hasher.hash('b');
    await expect(hasher.hash('c')).rejects.toBeInstanceOf(HashingOverloaded);
    await held.finishOne();
    await held.finishOne();
    await expect(Promise.all([first, queued])).resolves.toEqual(['$argon2id$held', '$argon2id$held']);
    const again = hasher.hash('d');
    await settle();
    expect(held.running).toBe(1);
    await held.finishOne();
    await expect(again).resolves.toBe('$argon2id$held');
  });

  it('with no queue, refuses everything beyond the concurrency', async () => {
    heldHashes();
    const hasher = new PasswordHasher({ concurrency: 2, queue: 0 });
    void hasher.hash('a');
    void hasher.hash('b');
    await expect(hasher.hash('c')).rejects.toThrow(HashingOverloaded);
  });

  it('frees the slot of a hash that failed', async () => {
    argon2.hold = () => Promise.reject(new Error('argon2 failed'));
    const hasher = new PasswordHasher({ concurrency: 1, queue: 0 });
    await expect(hasher.hash('a')).rejects.toThrow('argon2 failed');
    argon2.hold = async () => '$argon2id$ok';
    await expect(hasher.hash('b')).resolves.toBe('$argon2id$ok');
  });
});

describe('PasswordHasher with real argon2id', () => {
  const hasher = new PasswordHasher({ concurrency: 2, queue: 8 });

  it('verifies the right password only', async () => {
    const stored = await hasher.hash('correct horse');
    expect(stored).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await hasher.verify(stored, 'correct horse')).toBe(true);
    expect(await hasher.verify(stored, 'correct horse ')).toBe(false);
  });

  it('says no for a user without a stored hash, and for a garbled hash', async () => {
    expect(await hasher.verify(undefined, 'anything')).toBe(false);
    expect(await hasher.verify('not a hash', 'anything')).toBe(false);
  });

  it('asks for a rehash of weaker parameters only', async () => {
    expect(hasher.needsRehash(await hashPassword('pw'))).toBe(false);
    expect(hasher.needsRehash(await hashPassword('pw', { memoryCost: HASH_OPTIONS.memoryCost / 2 }))).toBe(
      true,
    );
    expect(hasher.needsRehash(await hashPassword('pw', { timeCost: 1 }))).toBe(true);
    expect(hasher.needsRehash(await hashPassword('pw', { timeCost: 3 }))).toBe(false);
  });

  it('asks for a rehash of anything that is not argon2id', () => {
    expect(hasher.needsRehash('$argon2i$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaA')).toBe(true);
    expect(hasher.needsRehash('$2b$12$abcdefghijklmnopqrstuv')).toBe(true);
    expect(hasher.needsRehash('')).toBe(true);
  });
});
