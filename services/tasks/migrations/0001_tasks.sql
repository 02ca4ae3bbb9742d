-- Tasks, partitioned by time through their ids, with per-owner summary counts kept exact in the write
-- transaction. Every unique key includes the owner, so the table can later be distributed by owner.

-- btree_gin lets one GIN index serve "this owner's rows tagged X".
create extension if not exists btree_gin;

-- The smallest UUIDv7 of a millisecond: the 48-bit Unix-ms timestamp, every other bit zero. UUIDv7s
-- sort by time, so [floor(month), floor(next month)) holds exactly the ids minted in that month.
create function taskfleet_uuidv7_floor(ts timestamptz) returns uuid
language sql immutable strict parallel safe as $$
  select (lpad(to_hex(floor(extract(epoch from ts) * 1000)::bigint), 12, '0') || repeat('0', 20))::uuid
$$;

create table tasks (
  id          uuid        not null, -- UUIDv7, minted by the service: time-ordered, the partition key
  owner_id    uuid        not null,
  title       text        not null check (char_length(title) between 1 and 200),
  description text        not null default '' check (char_length(description) <= 10000),
  status      text        not null default 'todo' check (status in ('todo', 'in_progress', 'done')),
  priority    text        not null default 'medium' check (priority in ('low', 'medium', 'high', 'urgent')),
  due_date    timestamptz,
  tags        text[]      not null default '{}' check (cardinality(tags) <= 20),
  version     integer     not null default 1,
  created_at  timestamptz not null,
  updated_at  timestamptz not null,
  search      tsvector    generated always as (to_tsvector('english', title || ' ' || description)) stored,
  -- A lookup by (owner, id) prunes to one partition; newest-first lists walk it backwards.
  primary key (owner_id, id)
) partition by range (id);

-- One index per list shape (owner first: every query is scoped to its owner).
create index tasks_owner_status_id on tasks (owner_id, status, id);
create index tasks_owner_priority_id on tasks (owner_id, priority, id);
create index tasks_owner_due_id on tasks (owner_id, due_date, id);
create index tasks_owner_tags on tasks using gin (owner_id, tags);
-- Full-text: on the words alone. A search term is rare across all tasks far more often than a tag is,
-- and with (owner_id, search) the planner's GIN costing walked the owner's whole posting list instead.
create index tasks_search on tasks using gin (search);

-- Monthly partitions named tasks_pYYYY_MM. Creates the ones missing from `months_back` months ago to
-- `months_ahead` months ahead; returns how many it created. Run by every migration and by the
-- maintenance job, so inserts never find their month missing.
create function taskfleet_ensure_partitions(months_ahead int default 3, months_back int default 1)
returns int language plpgsql as $$
declare
  month_start timestamptz;
  created int := 0;
  name text;
begin
  for i in -months_back .. months_ahead loop
    month_start := date_trunc('month', now() at time zone 'UTC') at time zone 'UTC' + make_interval(months => i);
    name := format('tasks_p%s', to_char(month_start at time zone 'UTC', 'YYYY_MM'));
    if to_regclass(name) is null then
      execute format('create table %I partition of tasks for values from (%L) to (%L)', name,
        taskfleet_uuidv7_floor(month_start), taskfleet_uuidv7_floor(month_start + interval '1 month'));
      created := created + 1;
    end if;
  end loop;
  return created;
end $$;

select taskfleet_ensure_partitions();

-- Counts by status × priority per owner, exact after every write: maintained by a trigger in the same
-- transaction as the write (no materialized-view refresh, no full scan).
create table task_counts (
  owner_id uuid   not null,
  status   text   not null,
  priority text   not null,
  count    bigint not null check (count >= 0),
  primary key (owner_id, status, priority)
);

create function taskfleet_count_tasks() returns trigger language plpgsql as $$
begin
  if tg_op in ('UPDATE', 'DELETE') then
    update task_counts set count = count - 1
     where owner_id = old.owner_id and status = old.status and priority = old.priority;
  end if;
  if tg_op in ('INSERT', 'UPDATE') then
    insert into task_counts as c (owner_id, status, priority, count)
    values (new.owner_id, new.status, new.priority, 1)
    on conflict (owner_id, status, priority) do update set count = c.count + 1;
  end if;
  return null;
end $$;

create trigger tasks_count_insert_delete after insert or delete on tasks
  for each row execute function taskfleet_count_tasks();
-- Only when the counted columns change: most updates (title, tags…) leave the counts alone.
create trigger tasks_count_update after update of status, priority on tasks
  for each row when (old.status is distinct from new.status or old.priority is distinct from new.priority)
  execute function taskfleet_count_tasks();
