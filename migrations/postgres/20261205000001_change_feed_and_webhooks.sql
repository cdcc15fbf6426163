-- Change feed retention and webhook delivery.
--
-- Change records are read by the application-facing change feed in `seq`
-- order. `change_retention.pruned_through` is the highest `seq` that the
-- pruning task may have deleted: a feed cursor below it may have missed
-- events and is answered with 410 Gone.

create table change_retention (
    singleton boolean primary key default true check (singleton),
    pruned_through bigint not null
);
insert into change_retention (singleton, pruned_through) values (true, 0);

create index changes_occurred_at_idx on changes (occurred_at);

-- Webhook endpoints: one directory's events are posted to `url`, signed
-- with `secret` as the Standard Webhooks specification describes. An empty
-- `event_types` array subscribes to every event type.
create table webhook_endpoints (
    id uuid primary key,
    directory_id uuid not null references directories (id) on delete cascade,
    url text not null,
    event_types text[] not null,
    -- `whsec_` followed by base64; needed in clear to sign deliveries.
    secret text not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    -- Set when the endpoint was disabled (by an operator or after failing
    -- for too long); disabled endpoints receive no new deliveries.
    disabled_at timestamptz,
    disabled_reason text,
    -- Failed attempts since the last successful one, and when that run of
    -- failures began; used to decide when to disable the endpoint.
    consecutive_failures integer not null default 0,
    failing_since timestamptz,
    last_success_at timestamptz
);
create index webhook_endpoints_directory_idx on webhook_endpoints (directory_id, created_at);

-- The outbox: one row per (endpoint, change record), written in the
-- transaction that writes the change record, so that a restart loses
-- nothing. The change is copied so that pruning `changes` cannot lose a
-- pending delivery.
create table webhook_deliveries (
    id uuid primary key,
    endpoint_id uuid not null references webhook_endpoints (id) on delete cascade,
    seq bigint not null,
    directory_id uuid not null,
    resource_type text not null,
    resource_id uuid not null,
    kind text not null,
    occurred_at timestamptz not null,
    data jsonb not null,
    status text not null default 'pending' check (status in ('pending', 'delivered')),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null,
    -- A replica that claims the delivery sets a lease; no other replica
    -- attempts it until the lease expires.
    leased_until timestamptz,
    lease_id uuid,
    last_attempt_at timestamptz,
    last_status_code integer,
    last_error text,
    delivered_at timestamptz,
    created_at timestamptz not null,
    unique (endpoint_id, seq)
);
create index webhook_deliveries_due_idx on webhook_deliveries (next_attempt_at)
    where status = 'pending';
create index webhook_deliveries_resource_idx on webhook_deliveries (endpoint_id, resource_id, seq)
    where status = 'pending';
create index webhook_deliveries_delivered_idx on webhook_deliveries (delivered_at)
    where status = 'delivered';
