-- Case-insensitive indexes use the case_fold collation, which the server
-- registers on every connection, so that user names, group names and email
-- addresses that differ only in the case of a non-ASCII letter (Ä and ä)
-- are the same, as on PostgreSQL. SQLite's lower() folds only A to Z.
drop index users_user_name_key;
create unique index users_user_name_key on users (directory_id, user_name collate case_fold);
drop index users_display_name_idx;
create index users_display_name_idx on users (directory_id, display_name collate case_fold);
drop index user_emails_value_idx;
create index user_emails_value_idx on user_emails (directory_id, value collate case_fold);
drop index groups_display_name_key;
create unique index groups_display_name_key on groups (directory_id, display_name collate case_fold);
