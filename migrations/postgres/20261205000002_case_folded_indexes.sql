-- The SQLite migration of this version switches its case-insensitive
-- indexes to a collation that folds every script. PostgreSQL's lower()
-- already does, so its indexes stay as they are.
select 1;
