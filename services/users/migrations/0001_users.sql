-- The users service's tables, in a schema of their own (the tasks tables never reference them: a task's
-- owner is the `sub` of a verified token).
create table users.users (
  id            uuid        primary key,
  email         text        not null,            -- as given (trimmed); compared case-insensitively
  password_hash text        not null,            -- argon2id, PHC string (algorithm and parameters inside)
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now()
);
create unique index users_email on users.users (lower(email));

-- Refresh tokens: only their SHA-256 is stored. Each login starts a family; each refresh marks the
-- presented token used and issues the next one in the family. Presenting a used token again means it
-- was stolen (or replayed): the whole family is revoked.
create table users.refresh_tokens (
  id          uuid        primary key,
  family_id   uuid        not null,
  user_id     uuid        not null references users.users (id) on delete cascade,
  token_hash  bytea       not null unique,
  created_at  timestamptz not null default now(),
  expires_at  timestamptz not null,
  used_at     timestamptz,
  revoked_at  timestamptz
);
create index refresh_tokens_family on users.refresh_tokens (family_id);
create index refresh_tokens_expiry on users.refresh_tokens (expires_at);
