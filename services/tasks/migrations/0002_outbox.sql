-- Transactional outbox (design §5): every task write inserts its event here in the same statement, so
-- the event exists exactly when the write committed. The relay (services/worker) publishes unsent rows
-- to RabbitMQ with publisher confirms, then marks them sent.
create table outbox (
  seq          bigint generated always as identity primary key, -- publish order
  event_id     uuid        not null unique,                        -- consumers de-duplicate on it
  type         text        not null check (type in ('task.created', 'task.updated', 'task.deleted')),
  owner_id     uuid        not null,
  task_id      uuid        not null,
  version      integer     not null,
  traceparent  text,
  occurred_at  timestamptz not null default clock_timestamp(),
  sent_at      timestamptz
);

-- The relay's work queue: only unsent rows, in order.
create index outbox_unsent on outbox (seq) where sent_at is null;
