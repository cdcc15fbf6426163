-- Change feed retention and webhook delivery, the same tables, columns and
-- indexes as the PostgreSQL migration of the same version, in the storage
-- formats of 20261204000001_initial.sql: uuid text ids, fixed-width
-- RFC 3339 text times, JSON text.
--
-- `change_retention.pruned_through` is the highest `seq` that the pruning
-- task may have deleted: a feed cursor below it may have missed events and
-- is answered with 410 Gone.

create table change_retention (
    singleton integer primary key default 1 check (singleton = 1),
    pruned_through integer not null
);
insert into change_retention (singleton, pruned_through) values (1, 0);

create index changes_occurred_at_idx on changes (occurred_at);

-- Webhook endpoints: one directory's events are posted to `url`, signed
-- with `secret` as the Standard Webhooks specification describes.
-- `event_types` is a JSON array of text; an empty array subscribes to every
-- event type.
create table webhook_endpoints (
    id text primary key,
    directory_id text not null references directories (id) on delete cascade,
    url text not null,
    event_types text not null,
    -- `whsec_` followed by base64; needed in clear to sign deliveries.
    secret text not null,
    created_at text not null,
    updated_at text not null,
    -- Set when the endpoint was disabled (by an operator or after failing
    -- for too long); disabled endpoints receive no new deliveries.
    disabled_at text,
    disabled_reason text,
    -- Failed attempts since the last successful one, and when that run of
    -- failures began; used to decide when to disable the endpoint.
    consecutive_failures integer not null default 0,
    failing_since text,
    last_success_at text
);
create index webhook_endpoints_directory_idx on webhook_endpoints (directory_id, created_at);

-- The outbox: one row per (endpoint, change record), written in the
-- transaction that writes the change record, so that a restart loses
-- nothing. The change is copied so that pruning `changes` cannot lose a
-- pending delivery.
create table webhook_deliveries (
    id text primary key,
    endpoint_id text not null references webhook_endpoints (id) on delete cascade,
    seq integer not null,
    directory_id text not null,
    resource_type text not null,
    resource_id text not null,
    kind text not null,
    occurred_at text not null,
    data text not null,
    status text not null default 'pending' check (status in ('pending', 'delivered')),
    attempts integer not null default 0,
    next_attempt_at text not null,
    -- The claiming server sets a lease; no other claim takes the delivery
    -- until the lease expires.
    leased_until text,
    lease_id text,
    last_attempt_at text,
    last_status_code integer,
    last_error text,
    delivered_at text,
    created_at text not null,
    unique (endpoint_id, seq)
);
create index webhook_deliveries_due_idx on webhook_deliveries (next_attempt_at)
    where status = 'pending';
create index webhook_deliveries_resource_idx on webhook_deliveries (endpoint_id, resource_id, seq)
    where status = 'pending';
create index webhook_deliveries_delivered_idx on webhook_deliveries (delivered_at)
    where status = 'delivered';
