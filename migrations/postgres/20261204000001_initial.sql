-- Initial schema: directories (tenants), tokens, users, groups, memberships
-- and the change log. Every resource row is keyed by (directory_id, id) so
-- that every query is scoped by directory.

create table directories (
    id uuid primary key,
    name text not null unique,
    created_at timestamptz not null default now()
);

create table tokens (
    id uuid primary key,
    directory_id uuid not null references directories (id) on delete cascade,
    scope text not null check (scope in ('scim', 'read')),
    -- Public part of the token, used to find the row; the secret is checked
    -- against token_hash in constant time.
    lookup_prefix text not null,
    token_hash bytea not null,
    created_at timestamptz not null default now(),
    revoked_at timestamptz,
    last_used_at timestamptz
);
create index tokens_lookup_prefix_idx on tokens (lookup_prefix);

create table users (
    directory_id uuid not null references directories (id) on delete cascade,
    id uuid not null,
    user_name text not null,
    external_id text,
    display_name text,
    active boolean not null,
    -- The stored SCIM representation without id, meta, groups and password.
    resource jsonb not null,
    version bigint not null,
    created_at timestamptz not null,
    last_modified timestamptz not null,
    primary key (directory_id, id)
);
create unique index users_user_name_key on users (directory_id, lower(user_name));
create index users_external_id_idx on users (directory_id, external_id);
create index users_display_name_idx on users (directory_id, lower(display_name));
create index users_created_idx on users (directory_id, created_at, id);
create index users_last_modified_idx on users (directory_id, last_modified);

create table user_emails (
    directory_id uuid not null,
    user_id uuid not null,
    position integer not null,
    value text not null,
    type text,
    is_primary boolean not null default false,
    primary key (directory_id, user_id, position),
    foreign key (directory_id, user_id) references users (directory_id, id) on delete cascade
);
create index user_emails_value_idx on user_emails (directory_id, lower(value));

create table groups (
    directory_id uuid not null references directories (id) on delete cascade,
    id uuid not null,
    display_name text not null,
    external_id text,
    -- The stored SCIM representation without id, meta and members.
    resource jsonb not null,
    version bigint not null,
    created_at timestamptz not null,
    last_modified timestamptz not null,
    primary key (directory_id, id)
);
create unique index groups_display_name_key on groups (directory_id, lower(display_name));
create index groups_external_id_idx on groups (directory_id, external_id);
create index groups_created_idx on groups (directory_id, created_at, id);
create index groups_last_modified_idx on groups (directory_id, last_modified);

-- One row per (group, member). Members are users or groups of the same
-- directory; rows of a deleted member are removed by the store, because a
-- foreign key cannot point at either table.
create table group_members (
    directory_id uuid not null,
    group_id uuid not null,
    member_id uuid not null,
    member_type text not null check (member_type in ('User', 'Group')),
    added_at timestamptz not null,
    primary key (directory_id, group_id, member_id),
    foreign key (directory_id, group_id) references groups (directory_id, id) on delete cascade
);
create index group_members_member_idx on group_members (directory_id, member_id);

-- Every mutation writes one row here in the same transaction.
create table changes (
    seq bigint generated always as identity primary key,
    directory_id uuid not null references directories (id) on delete cascade,
    resource_type text not null check (resource_type in ('User', 'Group')),
    resource_id uuid not null,
    kind text not null,
    occurred_at timestamptz not null,
    data jsonb not null
);
create index changes_directory_seq_idx on changes (directory_id, seq);
