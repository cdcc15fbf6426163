-- Initial schema for SQLite, the same tables, columns and indexes as the
-- PostgreSQL migration of the same version. SQLite has no uuid, timestamp
-- or jsonb types, so the store writes:
--   - ids as text: lowercase hyphenated uuids;
--   - times as text: RFC 3339 in UTC with exactly six fractional digits
--     (2026-01-02T03:04:05.123456Z), a fixed width, so comparing the text
--     compares the times;
--   - resources and change data as JSON text;
--   - booleans as 0 and 1.
-- The store binds every time itself, so no column has a time default.

create table directories (
    id text primary key,
    name text not null unique,
    created_at text not null
);

create table tokens (
    id text primary key,
    directory_id text not null references directories (id) on delete cascade,
    scope text not null check (scope in ('scim', 'read')),
    -- Public part of the token, used to find the row; the secret is checked
    -- against token_hash in constant time.
    lookup_prefix text not null,
    token_hash blob not null,
    created_at text not null,
    revoked_at text,
    last_used_at text
);
create index tokens_lookup_prefix_idx on tokens (lookup_prefix);

create table users (
    directory_id text not null references directories (id) on delete cascade,
    id text not null,
    user_name text not null,
    external_id text,
    display_name text,
    active integer not null,
    -- The stored SCIM representation without id, meta, groups and password.
    resource text not null,
    version integer not null,
    created_at text not null,
    last_modified text not null,
    primary key (directory_id, id)
);
-- NOTE: SQLite's lower() folds only the ASCII letters A-Z, so on SQLite
-- 'ÄDA' and 'äda' are two different user names. PostgreSQL folds every
-- letter its database locale knows.
create unique index users_user_name_key on users (directory_id, lower(user_name));
create index users_external_id_idx on users (directory_id, external_id);
create index users_display_name_idx on users (directory_id, lower(display_name));
create index users_created_idx on users (directory_id, created_at, id);
create index users_last_modified_idx on users (directory_id, last_modified);

create table user_emails (
    directory_id text not null,
    user_id text not null,
    position integer not null,
    value text not null,
    type text,
    is_primary integer not null default 0,
    primary key (directory_id, user_id, position),
    foreign key (directory_id, user_id) references users (directory_id, id) on delete cascade
);
create index user_emails_value_idx on user_emails (directory_id, lower(value));

create table groups (
    directory_id text not null references directories (id) on delete cascade,
    id text not null,
    display_name text not null,
    external_id text,
    -- The stored SCIM representation without id, meta and members.
    resource text not null,
    version integer not null,
    created_at text not null,
    last_modified text not null,
    primary key (directory_id, id)
);
-- Folds ASCII letters only, as users_user_name_key above.
create unique index groups_display_name_key on groups (directory_id, lower(display_name));
create index groups_external_id_idx on groups (directory_id, external_id);
create index groups_created_idx on groups (directory_id, created_at, id);
create index groups_last_modified_idx on groups (directory_id, last_modified);

-- One row per (group, member). Members are users or groups of the same
-- directory; rows of a deleted member are removed by the store, because a
-- foreign key cannot point at either table.
create table group_members (
    directory_id text not null,
    group_id text not null,
    member_id text not null,
    member_type text not null check (member_type in ('User', 'Group')),
    added_at text not null,
    primary key (directory_id, group_id, member_id),
    foreign key (directory_id, group_id) references groups (directory_id, id) on delete cascade
);
create index group_members_member_idx on group_members (directory_id, member_id);

-- Every mutation writes one row here in the same transaction. SQLite lets
-- one writer at a time commit, and autoincrement never reuses a number, so
-- seq increases strictly in commit order.
create table changes (
    seq integer primary key autoincrement,
    directory_id text not null references directories (id) on delete cascade,
    resource_type text not null check (resource_type in ('User', 'Group')),
    resource_id text not null,
    kind text not null,
    occurred_at text not null,
    data text not null
);
create index changes_directory_seq_idx on changes (directory_id, seq);
