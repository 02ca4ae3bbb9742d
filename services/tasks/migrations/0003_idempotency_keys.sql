-- Idempotency keys (ADR 0009): the database, not Redis, is what knows that a key already ran. A create
-- with an Idempotency-Key inserts its row here in the same statement as the task and its outbox event,
-- so the key exists exactly when the task does; a second create with the key hits the primary key and
-- gets the first answer back instead of a second task — whichever gateway, replica or retry sends it.
--
-- A table of its own because the rule is "one per owner and key", and a unique constraint on the
-- partitioned tasks table must include its partition key (id), which would make it no rule at all.
create table idempotency_keys (
  owner_id      uuid        not null,
  key_digest    bytea       not null check (length(key_digest) = 32),  -- sha256 of the key as sent
  fingerprint   bytea       not null check (length(fingerprint) = 32), -- sha256 of method, path, body
  task_id       uuid        not null,
  task_snapshot jsonb       not null, -- the task as first answered: a replay repeats it, later edits aside
  created_at    timestamptz not null default clock_timestamp(),
  primary key (owner_id, key_digest)
) with (autovacuum_vacuum_scale_factor = 0.05); -- a table that turns over daily: vacuum it often

-- Retention walks this in order; inserts append to its right edge, so it stays cheap.
create index idempotency_keys_created_at on idempotency_keys (created_at);

-- One batch of expired keys removed, returning how many; the worker's maintenance calls it until a
-- batch comes back short. Each call is its own short transaction (row locks only, never a table lock),
-- and SKIP LOCKED steps around any row a writer holds, so retention never makes a create wait.
create function taskfleet_expire_idempotency_keys(keep interval, batch int default 5000)
returns int language sql as $$
  with doomed as (
    select ctid from idempotency_keys
     where created_at < clock_timestamp() - keep
     order by created_at
     limit batch
     for update skip locked
  ), removed as (
    -- = any(array(…)) rather than in (…): a TID scan of just these rows, never a join over the table.
    delete from idempotency_keys where ctid = any (array(select ctid from doomed)) returning 1
  )
  select count(*)::int from removed
$$;
