-- The display name a client sends with a group member, returned as sent.
alter table group_members add column display text;
