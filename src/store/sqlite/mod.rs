//! The SQLite store: the embedded default, so that scimgate runs with no
//! database server. It mirrors the PostgreSQL store module by module.
//!
//! Storage formats (see `migrations/sqlite`): ids are lowercase hyphenated
//! uuid text, times are fixed-width RFC 3339 text in UTC with microseconds
//! (`Timestamp`), resources are JSON text.
//!
//! Concurrency: the database runs in WAL mode, so readers do not wait for
//! the writer. Every write transaction starts with `begin immediate`
//! (`begin_write`), which takes SQLite's single write lock before the
//! first read. A deferred transaction that reads and then writes would try
//! to upgrade its read snapshot to the write lock, and SQLite rejects that
//! upgrade with `SQLITE_BUSY` at once, without waiting, when another
//! connection committed in between. With `begin immediate`, writers queue on
//! the lock instead, each waiting up to [`BUSY_TIMEOUT`], and a transaction
//! always sees the state it writes over. The lock also replaces the row
//! locks (`for update`) of the PostgreSQL store. It works across processes,
//! so `scimgate token create` can run while `scimgate serve` is up.

mod feed;
mod filter;
mod groups;
mod list;
mod membership;
mod reads;
mod transfer;
mod users;
mod webhooks;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde_json::{json, Value};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::sqlite::{
    SqliteArgumentValue, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteTypeInfo, SqliteValueRef,
};
use sqlx::types::Json;
use sqlx::{Decode, Encode, Sqlite, Transaction, Type};
use tokio::sync::watch;
use uuid::fmt::Hyphenated;
use uuid::Uuid;

use super::changes::Change;
use super::feed::ChangeBatch;
use super::listing::{GroupListQuery, MemberEntry, UserListQuery};
use super::webhooks::{
    AttemptOutcome, ClaimedDelivery, Completion, DeliveryRecord, EndpointUpdate, WebhookEndpoint,
};
use super::{
    Directory, DirectoryId, IfMatch, ListQuery, Page, PatchResponse, Store, StoreError,
    StoredResource, TokenCredential, TokenRecord, TokenScope,
};
use crate::scim::patch::{MemberRef, PatchOperation};

/// Name of the collation that compares text ignoring case in every script.
/// SQLite's own `lower()` and `nocase` fold only A to Z, so case-insensitive
/// uniqueness, equality, ranges and sorting use this collation instead; its
/// indexes need it registered on every connection that writes the tables.
pub(crate) const CASE_FOLD: &str = "case_fold";

/// Orders two strings by their Unicode lowercase forms.
fn compare_case_folded(left: &str, right: &str) -> std::cmp::Ordering {
    left.to_lowercase().cmp(&right.to_lowercase())
}
/// Migrations for SQLite, embedded in the binary. Their versions and names
/// match those of `migrations/postgres`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a connection waits for a lock taken by another connection or
/// process before the operation fails as unavailable. Write transactions
/// take milliseconds, so this runs out only when a writer is stuck. It is
/// shorter than the default request timeout (30 s), so that the caller gets
/// a store error rather than a timeout.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A [`Store`] on a SQLite database file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Bumped after every commit of this store that wrote change records.
    /// SQLite has no LISTEN/NOTIFY, so [`Store::watch_changes`] forwards
    /// this in-process signal. Writes by other processes on the same file
    /// (such as `scimgate import`) wake no watcher here, so long-polls and
    /// the webhook dispatcher read them at their next periodic read.
    commits: Arc<watch::Sender<u64>>,
}

impl SqliteStore {
    /// Opens a pool of at most `max_connections` connections on the file
    /// named by `url` (`sqlite://PATH`, with `?mode=rwc` to create it) in
    /// WAL mode with foreign keys on.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(StoreError::Other(format!(
                "'{url}' is an in-memory SQLite database, whose data would be lost when scimgate \
                 stops: name a file instead, for example sqlite://data/scimgate.db?mode=rwc"
            )));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|err| StoreError::Other(format!("invalid SQLite URL '{url}': {err}")))?
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .collation(CASE_FOLD, compare_case_folded);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|err| match err {
                sqlx::Error::Database(db) => StoreError::Other(format!(
                    "cannot open the SQLite database '{url}': {db}; check that its folder exists \
                     and add ?mode=rwc to the URL to create a missing file"
                )),
                other => db_error(other),
            })?;
        Ok(Self::from_pool(pool))
    }

    /// Wraps an existing pool, which must have foreign keys on.
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self {
            pool,
            commits: Arc::new(watch::channel(0).0),
        }
    }

    /// Wakes change watchers if `result` is a success: the write committed
    /// and may have recorded changes. A spurious wake costs a watcher one
    /// read of the log.
    fn changed<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if result.is_ok() {
            self.commits
                .send_modify(|count| *count = count.wrapping_add(1));
        }
        result
    }

    /// Applies pending migrations.
    ///
    /// NOTE: sqlx takes no lock around SQLite migrations, so two processes
    /// that start at the same moment on a new file may both apply them, and
    /// one of them can fail. Starting that one again succeeds.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|err| StoreError::Other(format!("migration failed: {err}")))
    }
}

/// Translates a sqlx error at the store boundary.
pub(crate) fn db_error(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(err.to_string())
        }
        // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes
        // in the low byte: the lock was not free within BUSY_TIMEOUT.
        sqlx::Error::Database(db)
            if db
                .code()
                .and_then(|code| code.parse::<i32>().ok())
                .is_some_and(|code| matches!(code & 0xff, 5 | 6)) =>
        {
            StoreError::Unavailable(format!("the database is locked by another writer: {db}"))
        }
        _ => StoreError::Other(err.to_string()),
    }
}

/// Returns true when an error is a unique-constraint violation. SQLite names no
/// constraint, so callers know from the statement which one it was.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|db| db.is_unique_violation())
}

/// Returns the current time at the stored precision (microseconds), so that a value
/// returned from a write equals the value read back later.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Starts a write transaction that holds the database's write lock from
/// its first statement (see the module documentation for why).
pub(crate) async fn begin_write(
    pool: &SqlitePool,
) -> Result<Transaction<'static, Sqlite>, StoreError> {
    pool.begin_with("begin immediate").await.map_err(db_error)
}

/// Converts an id to its stored form.
pub(crate) fn id_text(id: Uuid) -> Hyphenated {
    id.hyphenated()
}

/// Encodes ids as a JSON array, bound as one value and read with
/// `json_each` where the PostgreSQL store binds an array to `= any($1)`.
pub(crate) fn id_list(ids: &[Uuid]) -> String {
    Value::from_iter(ids.iter().map(|id| Value::from(id.to_string()))).to_string()
}

/// A point in time stored as fixed-width RFC 3339 text in UTC with six
/// fractional digits, such as `2026-01-02T03:04:05.123456Z`. Every stored
/// time has this form, so ordering and comparing the text orders and
/// compares the times (for years 0 to 9999).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// Formats the stored text.
    pub(crate) fn text(self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

impl Type<Sqlite> for Timestamp {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Timestamp {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        <String as Encode<'q, Sqlite>>::encode(self.text(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Timestamp {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<'r, Sqlite>>::decode(value)?;
        let time = DateTime::parse_from_rfc3339(text)
            .map_err(|err| format!("stored time '{text}' is not RFC 3339: {err}"))?;
        Ok(Timestamp(time.with_timezone(&Utc)))
    }
}

/// Appends change records to the log inside the caller's transaction and
/// queues a webhook delivery per matching enabled endpoint. The caller must
/// have begun the transaction with [`begin_write`] and, after it commits,
/// call [`SqliteStore::changed`] to wake long-polls and the dispatcher.
///
/// The feed is gap-free without the advisory lock the PostgreSQL store
/// takes: `begin immediate` holds SQLite's single write lock from the
/// transaction's first statement to its commit, so no other transaction
/// draws sequence numbers in between, and sequence order is commit order.
pub(crate) async fn record_changes(
    tx: &mut Transaction<'_, Sqlite>,
    directory: DirectoryId,
    at: DateTime<Utc>,
    changes: &[Change],
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let rows: Vec<Value> = changes
        .iter()
        .map(|change| {
            json!({
                "resourceType": change.resource_type.name(),
                "resourceId": change.resource_id.to_string(),
                "kind": change.kind.as_str(),
                "data": change.data,
            })
        })
        .collect();
    let previous_seq: i64 = sqlx::query_scalar("select coalesce(max(seq), 0) from changes")
        .fetch_one(&mut **tx)
        .await
        .map_err(db_error)?;
    // Rows are inserted in array order (`j.key` is the index), so sequence
    // numbers follow `changes`.
    sqlx::query(
        r#"insert into changes (directory_id, resource_type, resource_id, kind, occurred_at, data)
           select ?1, j.value ->> '$.resourceType', j.value ->> '$.resourceId',
                  j.value ->> '$.kind', ?2, j.value -> '$.data'
           from json_each(?3) as j
           order by j.key"#,
    )
    .bind(id_text(directory.0))
    .bind(Timestamp(at))
    .bind(Value::from(rows).to_string())
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;

    // The rows just inserted are those above the previous highest number,
    // because the write lock keeps other writers out.
    let targets: Vec<(Hyphenated, i64)> = sqlx::query_as(
        r#"select e.id, c.seq
           from changes c
           join webhook_endpoints e on e.directory_id = c.directory_id
                and e.disabled_at is null
                and (json_array_length(e.event_types) = 0
                     or exists (select 1 from json_each(e.event_types) t where t.value = c.kind))
           where c.directory_id = ?1 and c.seq > ?2
           order by c.seq"#,
    )
    .bind(id_text(directory.0))
    .bind(previous_seq)
    .fetch_all(&mut **tx)
    .await
    .map_err(db_error)?;
    if targets.is_empty() {
        return Ok(());
    }
    let deliveries: Vec<Value> = targets
        .iter()
        .map(|(endpoint, seq)| {
            json!({
                "id": Uuid::new_v4().hyphenated().to_string(),
                "endpoint": endpoint.to_string(),
                "seq": seq,
            })
        })
        .collect();
    sqlx::query(
        r#"insert into webhook_deliveries (id, endpoint_id, seq, directory_id, resource_type,
                                           resource_id, kind, occurred_at, data,
                                           next_attempt_at, created_at)
           select j.value ->> '$.id', j.value ->> '$.endpoint', c.seq, c.directory_id,
                  c.resource_type, c.resource_id, c.kind, c.occurred_at, c.data, ?2, ?2
           from json_each(?1) as j
           join changes c on c.seq = j.value ->> '$.seq'
           order by j.key"#,
    )
    .bind(Value::from(deliveries).to_string())
    .bind(Timestamp(at))
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct DirectoryRow {
    id: Hyphenated,
    name: String,
    created_at: Timestamp,
}

impl From<DirectoryRow> for Directory {
    fn from(row: DirectoryRow) -> Self {
        Directory {
            id: DirectoryId(row.id.into_uuid()),
            name: row.name,
            created_at: row.created_at.0,
        }
    }
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: Hyphenated,
    directory_id: Hyphenated,
    directory_name: String,
    scope: String,
    lookup_prefix: String,
    token_hash: Vec<u8>,
    created_at: Timestamp,
    revoked_at: Option<Timestamp>,
    last_used_at: Option<Timestamp>,
}

impl TokenRow {
    fn into_credential(self) -> Result<TokenCredential, StoreError> {
        Ok(TokenCredential {
            record: TokenRecord {
                id: self.id.into_uuid(),
                directory_id: DirectoryId(self.directory_id.into_uuid()),
                directory_name: self.directory_name,
                scope: TokenScope::from_db(&self.scope)?,
                lookup_prefix: self.lookup_prefix,
                created_at: self.created_at.0,
                revoked_at: self.revoked_at.map(|at| at.0),
                last_used_at: self.last_used_at.map(|at| at.0),
            },
            hash: self.token_hash,
        })
    }
}

const TOKEN_COLUMNS: &str = r#"t.id, t.directory_id, d.name as directory_name, t.scope,
    t.lookup_prefix, t.token_hash, t.created_at, t.revoked_at, t.last_used_at"#;

impl SqliteStore {
    async fn token_by_id<'e, E>(executor: E, id: Uuid) -> Result<TokenRecord, StoreError>
    where
        E: sqlx::Executor<'e, Database = Sqlite>,
    {
        let query = format!(
            "select {TOKEN_COLUMNS} from tokens t join directories d on d.id = t.directory_id where t.id = ?1"
        );
        let row: TokenRow = sqlx::query_as(&query)
            .bind(id_text(id))
            .fetch_one(executor)
            .await
            .map_err(db_error)?;
        Ok(row.into_credential()?.record)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ensure_directory(&self, name: &str) -> Result<Directory, StoreError> {
        sqlx::query(
            "insert into directories (id, name, created_at) values (?1, ?2, ?3) on conflict (name) do nothing",
        )
        .bind(id_text(Uuid::now_v7()))
        .bind(name)
        .bind(Timestamp(now()))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        self.find_directory(name).await?.ok_or(StoreError::NotFound)
    }

    async fn create_directory(&self, name: &str) -> Result<Directory, StoreError> {
        let row: DirectoryRow = sqlx::query_as(
            "insert into directories (id, name, created_at) values (?1, ?2, ?3) returning id, name, created_at",
        )
        .bind(id_text(Uuid::now_v7()))
        .bind(name)
        .bind(Timestamp(now()))
        .fetch_one(&self.pool)
        .await
        .map_err(|err| {
            if is_unique_violation(&err) {
                StoreError::Conflict(format!("a directory named '{name}' already exists"))
            } else {
                db_error(err)
            }
        })?;
        Ok(row.into())
    }

    async fn list_directories(&self) -> Result<Vec<Directory>, StoreError> {
        let rows: Vec<DirectoryRow> =
            sqlx::query_as("select id, name, created_at from directories order by name")
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
        Ok(rows.into_iter().map(Directory::from).collect())
    }

    async fn find_directory(&self, name: &str) -> Result<Option<Directory>, StoreError> {
        let row: Option<DirectoryRow> =
            sqlx::query_as("select id, name, created_at from directories where name = ?1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
        Ok(row.map(Directory::from))
    }

    async fn create_token(
        &self,
        directory: DirectoryId,
        scope: TokenScope,
        lookup_prefix: &str,
        hash: &[u8],
    ) -> Result<TokenRecord, StoreError> {
        let id = Uuid::now_v7();
        sqlx::query(
            "insert into tokens (id, directory_id, scope, lookup_prefix, token_hash, created_at) values (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(id_text(id))
        .bind(id_text(directory.0))
        .bind(scope.as_str())
        .bind(lookup_prefix)
        .bind(hash)
        .bind(Timestamp(now()))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Self::token_by_id(&self.pool, id).await
    }

    async fn create_first_token(
        &self,
        directory: DirectoryId,
        scope: TokenScope,
        lookup_prefix: &str,
        hash: &[u8],
    ) -> Result<Option<TokenRecord>, StoreError> {
        // The write lock taken by `begin immediate` makes the check and the
        // insert one step for every process sharing the file.
        let mut tx = begin_write(&self.pool).await?;
        let existing: i64 = sqlx::query_scalar("select count(*) from tokens")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        if existing > 0 {
            return Ok(None);
        }
        let id = Uuid::now_v7();
        sqlx::query(
            "insert into tokens (id, directory_id, scope, lookup_prefix, token_hash, created_at) values (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(id_text(id))
        .bind(id_text(directory.0))
        .bind(scope.as_str())
        .bind(lookup_prefix)
        .bind(hash)
        .bind(Timestamp(now()))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let record = Self::token_by_id(&mut *tx, id).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(Some(record))
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let query = format!(
            "select {TOKEN_COLUMNS} from tokens t join directories d on d.id = t.directory_id order by d.name, t.created_at"
        );
        let rows: Vec<TokenRow> = sqlx::query_as(&query)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.into_iter()
            .map(|row| row.into_credential().map(|credential| credential.record))
            .collect()
    }

    async fn revoke_token(&self, id: Uuid) -> Result<TokenRecord, StoreError> {
        let updated =
            sqlx::query("update tokens set revoked_at = ?2 where id = ?1 and revoked_at is null")
                .bind(id_text(id))
                .bind(Timestamp(now()))
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Self::token_by_id(&self.pool, id).await
    }

    async fn live_tokens_by_prefix(
        &self,
        lookup_prefix: &str,
    ) -> Result<Vec<TokenCredential>, StoreError> {
        let query = format!(
            "select {TOKEN_COLUMNS} from tokens t join directories d on d.id = t.directory_id
             where t.lookup_prefix = ?1 and t.revoked_at is null"
        );
        let rows: Vec<TokenRow> = sqlx::query_as(&query)
            .bind(lookup_prefix)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.into_iter().map(TokenRow::into_credential).collect()
    }

    async fn touch_token(&self, id: Uuid) -> Result<(), StoreError> {
        let at = now();
        let cutoff = at - chrono::Duration::minutes(1);
        sqlx::query(
            "update tokens set last_used_at = ?2
             where id = ?1 and (last_used_at is null or last_used_at < ?3)",
        )
        .bind(id_text(id))
        .bind(Timestamp(at))
        .bind(Timestamp(cutoff))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn create_user(
        &self,
        directory: DirectoryId,
        attributes: Value,
    ) -> Result<StoredResource, StoreError> {
        self.changed(users::create(&self.pool, directory, attributes).await)
    }

    async fn get_user(
        &self,
        directory: DirectoryId,
        id: Uuid,
    ) -> Result<StoredResource, StoreError> {
        users::get(&self.pool, directory, id).await
    }

    async fn list_users(
        &self,
        directory: DirectoryId,
        query: &ListQuery,
    ) -> Result<Page, StoreError> {
        users::list(&self.pool, directory, query).await
    }

    async fn replace_user(
        &self,
        directory: DirectoryId,
        id: Uuid,
        attributes: Value,
        if_match: &IfMatch,
    ) -> Result<StoredResource, StoreError> {
        let updated = users::update(&self.pool, directory, id, if_match, |_| Ok(attributes)).await;
        self.changed(updated)
    }

    async fn patch_user(
        &self,
        directory: DirectoryId,
        id: Uuid,
        operations: &[PatchOperation],
        if_match: &IfMatch,
    ) -> Result<StoredResource, StoreError> {
        let updated = users::update(&self.pool, directory, id, if_match, |current| {
            let mut patched = current.clone();
            crate::scim::patch::apply_user_patch(&mut patched, operations)?;
            Ok(patched)
        })
        .await;
        self.changed(updated)
    }

    async fn delete_user(
        &self,
        directory: DirectoryId,
        id: Uuid,
        if_match: &IfMatch,
    ) -> Result<(), StoreError> {
        self.changed(users::delete(&self.pool, directory, id, if_match).await)
    }

    async fn create_group(
        &self,
        directory: DirectoryId,
        attributes: Value,
        members: Vec<MemberRef>,
    ) -> Result<StoredResource, StoreError> {
        self.changed(groups::create(&self.pool, directory, attributes, members).await)
    }

    async fn get_group(
        &self,
        directory: DirectoryId,
        id: Uuid,
        with_members: bool,
    ) -> Result<StoredResource, StoreError> {
        groups::get(&self.pool, directory, id, with_members).await
    }

    async fn list_groups(
        &self,
        directory: DirectoryId,
        query: &ListQuery,
    ) -> Result<Page, StoreError> {
        groups::list(&self.pool, directory, query).await
    }

    async fn replace_group(
        &self,
        directory: DirectoryId,
        id: Uuid,
        attributes: Value,
        members: Option<Vec<MemberRef>>,
        if_match: &IfMatch,
    ) -> Result<StoredResource, StoreError> {
        let response = PatchResponse::Resource { with_members: true };
        let updated = groups::update(&self.pool, directory, id, if_match, response, |_| {
            let plan = members
                .as_deref()
                .map(super::members::MembershipPlan::replace_with)
                .unwrap_or_default();
            Ok((attributes, plan))
        })
        .await;
        self.changed(updated)?.ok_or(StoreError::NotFound)
    }

    async fn patch_group(
        &self,
        directory: DirectoryId,
        id: Uuid,
        operations: &[PatchOperation],
        if_match: &IfMatch,
        response: PatchResponse,
    ) -> Result<Option<StoredResource>, StoreError> {
        let updated = groups::update(&self.pool, directory, id, if_match, response, |current| {
            let mut patched = current.clone();
            let member_ops = crate::scim::patch::apply_group_patch(&mut patched, operations)?;
            Ok((patched, super::members::fold_member_ops(&member_ops)))
        })
        .await;
        self.changed(updated)
    }

    async fn delete_group(
        &self,
        directory: DirectoryId,
        id: Uuid,
        if_match: &IfMatch,
    ) -> Result<(), StoreError> {
        self.changed(groups::delete(&self.pool, directory, id, if_match).await)
    }

    async fn export_directory(
        &self,
        directory: &Directory,
    ) -> Result<super::transfer::DirectoryExport, StoreError> {
        transfer::export(&self.pool, directory).await
    }

    async fn import_directory(
        &self,
        name: &str,
        data: &super::transfer::DirectoryExport,
    ) -> Result<Directory, StoreError> {
        self.changed(transfer::import(&self.pool, name, data).await)
    }

    async fn query_users(
        &self,
        directory: DirectoryId,
        query: &UserListQuery,
    ) -> Result<Vec<StoredResource>, StoreError> {
        reads::query_users(&self.pool, directory, query).await
    }

    async fn query_groups(
        &self,
        directory: DirectoryId,
        query: &GroupListQuery,
    ) -> Result<Vec<StoredResource>, StoreError> {
        reads::query_groups(&self.pool, directory, query).await
    }

    async fn group_member_page(
        &self,
        directory: DirectoryId,
        group: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<MemberEntry>, StoreError> {
        reads::group_member_page(&self.pool, directory, group, after, limit).await
    }

    async fn user_groups(
        &self,
        directory: DirectoryId,
        user: Uuid,
    ) -> Result<Vec<StoredResource>, StoreError> {
        reads::user_groups(&self.pool, directory, user).await
    }

    async fn feed_head(&self, directory: DirectoryId) -> Result<i64, StoreError> {
        feed::feed_head(&self.pool, directory).await
    }

    async fn read_changes(
        &self,
        directory: DirectoryId,
        after: i64,
        limit: u32,
    ) -> Result<ChangeBatch, StoreError> {
        feed::read_changes(&self.pool, directory, after, limit).await
    }

    async fn prune_changes(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        feed::prune_changes(&self.pool, before).await
    }

    async fn watch_changes(&self, signal: &watch::Sender<u64>) -> Result<(), StoreError> {
        feed::watch_changes(&self.commits, signal).await
    }

    async fn create_webhook_endpoint(
        &self,
        directory: DirectoryId,
        url: &str,
        event_types: &[String],
        secret: &str,
    ) -> Result<WebhookEndpoint, StoreError> {
        webhooks::create_endpoint(&self.pool, directory, url, event_types, secret).await
    }

    async fn list_webhook_endpoints(
        &self,
        directory: Option<DirectoryId>,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        webhooks::list_endpoints(&self.pool, directory).await
    }

    async fn get_webhook_endpoint(&self, id: Uuid) -> Result<WebhookEndpoint, StoreError> {
        webhooks::get_endpoint(&self.pool, id).await
    }

    async fn update_webhook_endpoint(
        &self,
        id: Uuid,
        update: &EndpointUpdate,
        reason: &str,
    ) -> Result<WebhookEndpoint, StoreError> {
        let updated = webhooks::update_endpoint(&self.pool, id, update, reason).await;
        if update.enabled == Some(true) {
            // Wakes the dispatcher, because the endpoint's pending
            // deliveries became due.
            return self.changed(updated);
        }
        updated
    }

    async fn delete_webhook_endpoint(&self, id: Uuid) -> Result<(), StoreError> {
        webhooks::delete_endpoint(&self.pool, id).await
    }

    async fn list_deliveries(
        &self,
        endpoint: Uuid,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        webhooks::list_deliveries(&self.pool, endpoint, before, limit).await
    }

    async fn claim_deliveries(
        &self,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        webhooks::claim_deliveries(&self.pool, lease, limit).await
    }

    async fn complete_delivery(
        &self,
        delivery: &ClaimedDelivery,
        outcome: &AttemptOutcome,
    ) -> Result<Completion, StoreError> {
        webhooks::complete_delivery(&self.pool, delivery, outcome).await
    }
}

/// The stored JSON of a resource, decoded from text.
pub(crate) type JsonText = Json<Value>;
