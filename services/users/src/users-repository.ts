// SQL of the users service. Refresh-token rotation is one transaction that locks the presented token's
// row, so two concurrent refreshes with the same token can't both succeed: the second sees it used and
// revokes the family (it is a replay).
import type pg from 'pg';
import { newRefreshToken, refreshTokenHash } from './tokens.ts';

export interface User {
  id: string;
  email: string;
  createdAt: string;
}
interface UserRow {
  id: string;
  email: string;
  password_hash: string;
  created_at: Date;
}
const toUser = (r: UserRow): User => ({ id: r.id, email: r.email, createdAt: r.created_at.toISOString() });

/** Creates the user unless the email is taken (case-insensitively); says which happened. */
export async function createUser(
  db: pg.Pool,
  user: { id: string; email: string; passwordHash: string },
): Promise<boolean> {
  const r = await db.query(
    `insert into users.users (id, email, password_hash) values ($1, $2, $3)
     on conflict (lower(email)) do nothing`,
    [user.id, user.email, user.passwordHash],
  );
  return r.rowCount === 1;
}

export async function findByEmail(
  db: pg.Pool,
  email: string,
): Promise<(User & { passwordHash: string }) | undefined> {
  const r = await db.query<UserRow>('select * from users.users where lower(email) = lower($1)', [email]);
  const row = r.rows[0];
  return row && { ...toUser(row), passwordHash: row.password_hash };
}

export async function findById(db: pg.Pool, id: string): Promise<User | undefined> {
  const r = await db.query<UserRow>('select * from users.users where id = $1', [id]);
  return r.rows[0] && toUser(r.rows[0]);
}

export async function updatePasswordHash(db: pg.Pool, id: string, passwordHash: string): Promise<void> {
  await db.query('update users.users set password_hash = $2, updated_at = now() where id = $1', [
    id,
    passwordHash,
  ]);
}

/** A new refresh-token family (a login). Returns the token to hand out. */
export async function startFamily(db: pg.Pool, userId: string, ttlDays: number): Promise<string> {
  const { token, hash } = newRefreshToken();
  await db.query(
    `insert into users.refresh_tokens (id, family_id, user_id, token_hash, expires_at)
     values ($1, $1, $2, $3, now() + make_interval(days => $4))`,
    [crypto.randomUUID(), userId, hash, ttlDays],
  );
  return token;
}

export type RotateResult =
  | { outcome: 'rotated'; userId: string; token: string }
  | { outcome: 'reused' | 'unknown' | 'expired' | 'revoked' };

export async function rotate(db: pg.Pool, presented: string, ttlDays: number): Promise<RotateResult> {
  const client = await db.connect();
  try {
    await client.query('begin');
    const r = await client.query<{
      id: string;
      family_id: string;
      user_id: string;
      used: boolean;
      revoked: boolean;
      expired: boolean;
    }>(
      `select id, family_id, user_id, used_at is not null as used, revoked_at is not null as revoked,
              expires_at <= now() as expired
         from users.refresh_tokens where token_hash = $1 for update`,
      [refreshTokenHash(presented)],
    );
    const row = r.rows[0];
    let result: RotateResult;
    if (!row) result = { outcome: 'unknown' };
    else if (row.revoked) result = { outcome: 'revoked' };
    else if (row.used) {
      await client.query('update users.refresh_tokens set revoked_at = now() where family_id = $1', [
        row.family_id,
      ]);
      result = { outcome: 'reused' };
    } else if (row.expired) result = { outcome: 'expired' };
    else {
      const { token, hash } = newRefreshToken();
      await client.query('update users.refresh_tokens set used_at = now() where id = $1', [row.id]);
      await client.query(
        `insert into users.refresh_tokens (id, family_id, user_id, token_hash, expires_at)
         values ($1, $2, $3, $4, now() + make_interval(days => $5))`,
        [crypto.randomUUID(), row.family_id, row.user_id, hash, ttlDays],
      );
      result = { outcome: 'rotated', userId: row.user_id, token };
    }
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/** Logout: the presented token's whole family stops working. Unknown tokens are ignored. */
export async function revokeFamilyOf(db: pg.Pool, presented: string): Promise<void> {
  await db.query(
    `update users.refresh_tokens set revoked_at = now()
      where revoked_at is null
        and family_id = (select family_id from users.refresh_tokens where token_hash = $1)`,
    [refreshTokenHash(presented)],
  );
}
