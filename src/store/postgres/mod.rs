//! The PostgreSQL store.

mod feed;
mod filter;
mod groups;
mod list;
mod membership;
mod reads;
mod transfer;
mod users;
mod webhooks;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use tokio::sync::watch;
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

/// Migrations for PostgreSQL, embedded in the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A [`Store`] on a PostgreSQL connection pool.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects a pool of at most `max_connections` connections.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(db_error)?;
        Ok(Self { pool })
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Returns PostgreSQL's plan for the page query of a list of `kind`, to
    /// check that a filter uses an index.
    pub async fn explain_list(
        &self,
        kind: crate::scim::schema::ResourceKind,
        directory: DirectoryId,
        query: &ListQuery,
    ) -> Result<String, StoreError> {
        list::explain_list(&self.pool, kind, directory, query).await
    }

    /// Applies pending migrations.
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
        sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40001" | "40P01")) => {
            StoreError::Aborted(db.to_string())
        }
        _ => StoreError::Other(err.to_string()),
    }
}

/// Attempts of a write transaction that the database aborts for a deadlock.
const MAX_ATTEMPTS: u32 = 4;

/// Runs a write transaction again when PostgreSQL aborts it for a deadlock
/// or serialization failure. Writers lock rows in a fixed order where they
/// can, but a group that adds another group as a member while that group
/// adds the first one cannot avoid crossing locks, and PostgreSQL resolves
/// that by aborting one of them.
pub(crate) async fn retry_aborted<T, F, Fut>(mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut attempts = 1;
    loop {
        match attempt().await {
            Err(StoreError::Aborted(message)) if attempts < MAX_ATTEMPTS => {
                tracing::debug!(attempt = attempts, error = %message, "retrying an aborted transaction");
                let jitter = u64::from(rand::random::<u8>() % 20);
                tokio::time::sleep(std::time::Duration::from_millis(
                    5 * u64::from(attempts) + jitter,
                ))
                .await;
                attempts += 1;
            }
            other => return other,
        }
    }
}

/// Returns true when an error is a unique-constraint violation.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|db| db.is_unique_violation())
}

/// Returns the current time at the database's precision (microseconds), so that a
/// value returned from a write equals the value read back later.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Advisory lock class of the per-directory change-log lock; the second key
/// is a hash of the directory id.
const CHANGE_LOG_LOCK_CLASS: i32 = 0x5C1D;

/// Channel of the `pg_notify` sent with every committed change; the payload
/// is the directory id.
pub(crate) const CHANGE_CHANNEL: &str = "scimgate_changes";

/// Appends change records to the log inside the caller's transaction, queues
/// a webhook delivery per matching enabled endpoint, and notifies listeners
/// at commit. It must be the caller's last write before commit.
///
/// Sequence numbers come from an identity column, which hands out values at
/// insert time, while transactions commit in any order. Without care, a
/// reader could see seq 12 committed while seq 11 is still in flight, move
/// its cursor past 11 and never see it. So the insert first takes a
/// transaction-scoped advisory lock per directory. PostgreSQL releases it
/// only after the commit is visible to new snapshots, so the next writer of
/// the directory draws its sequence numbers after this transaction's records
/// are visible, and within a directory sequence order is commit order. The
/// lock is held only for the insert and the commit, after every row lock of
/// the transaction is taken, so it cannot close a deadlock cycle. A hash
/// collision between two directories only serialises them too.
pub(crate) async fn record_changes(
    tx: &mut Transaction<'_, Postgres>,
    directory: DirectoryId,
    at: DateTime<Utc>,
    changes: &[Change],
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut types = Vec::with_capacity(changes.len());
    let mut ids = Vec::with_capacity(changes.len());
    let mut kinds = Vec::with_capacity(changes.len());
    let mut data = Vec::with_capacity(changes.len());
    for change in changes {
        types.push(change.resource_type.name().to_owned());
        ids.push(change.resource_id);
        kinds.push(change.kind.as_str().to_owned());
        data.push(change.data.clone());
    }

    sqlx::query("select pg_advisory_xact_lock($1, hashtext($2::text))")
        .bind(CHANGE_LOG_LOCK_CLASS)
        .bind(directory)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;

    // unnest keeps the array order, so sequence numbers follow `changes`.
    sqlx::query(
        r#"with inserted as (
               insert into changes (directory_id, resource_type, resource_id, kind, occurred_at, data)
               select $1, t.resource_type, t.resource_id, t.kind, $2, t.data
               from unnest($3::text[], $4::uuid[], $5::text[], $6::jsonb[])
                    with ordinality as t(resource_type, resource_id, kind, data, position)
               order by t.position
               returning seq, directory_id, resource_type, resource_id, kind, occurred_at, data
           )
           insert into webhook_deliveries (id, endpoint_id, seq, directory_id, resource_type,
                                           resource_id, kind, occurred_at, data,
                                           next_attempt_at, created_at)
           select gen_random_uuid(), e.id, i.seq, i.directory_id, i.resource_type,
                  i.resource_id, i.kind, i.occurred_at, i.data, now(), now()
           from inserted i
           join webhook_endpoints e on e.directory_id = i.directory_id
                and e.disabled_at is null
                and (cardinality(e.event_types) = 0 or i.kind = any(e.event_types))"#,
    )
    .bind(directory)
    .bind(at)
    .bind(&types)
    .bind(&ids)
    .bind(&kinds)
    .bind(&data)
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;

    sqlx::query("select pg_notify($1, $2::text)")
        .bind(CHANGE_CHANNEL)
        .bind(directory)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct DirectoryRow {
    id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
}

impl From<DirectoryRow> for Directory {
    fn from(row: DirectoryRow) -> Self {
        Directory {
            id: DirectoryId(row.id),
            name: row.name,
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: Uuid,
    directory_id: Uuid,
    directory_name: String,
    scope: String,
    lookup_prefix: String,
    token_hash: Vec<u8>,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
}

impl TokenRow {
    fn into_credential(self) -> Result<TokenCredential, StoreError> {
        Ok(TokenCredential {
            record: TokenRecord {
                id: self.id,
                directory_id: DirectoryId(self.directory_id),
                directory_name: self.directory_name,
                scope: TokenScope::from_db(&self.scope)?,
                lookup_prefix: self.lookup_prefix,
                created_at: self.created_at,
                revoked_at: self.revoked_at,
                last_used_at: self.last_used_at,
            },
            hash: self.token_hash,
        })
    }
}

const TOKEN_COLUMNS: &str = r#"t.id, t.directory_id, d.name as directory_name, t.scope,
    t.lookup_prefix, t.token_hash, t.created_at, t.revoked_at, t.last_used_at"#;

#[async_trait]
impl Store for PgStore {
    async fn ensure_directory(&self, name: &str) -> Result<Directory, StoreError> {
        sqlx::query(
            "insert into directories (id, name) values ($1, $2) on conflict (name) do nothing",
        )
        .bind(Uuid::now_v7())
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        self.find_directory(name).await?.ok_or(StoreError::NotFound)
    }

    async fn create_directory(&self, name: &str) -> Result<Directory, StoreError> {
        let row: DirectoryRow = sqlx::query_as(
            "insert into directories (id, name) values ($1, $2) returning id, name, created_at",
        )
        .bind(Uuid::now_v7())
        .bind(name)
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
            sqlx::query_as("select id, name, created_at from directories where name = $1")
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
            "insert into tokens (id, directory_id, scope, lookup_prefix, token_hash) values ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(directory)
        .bind(scope.as_str())
        .bind(lookup_prefix)
        .bind(hash)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        let query = format!(
            "select {TOKEN_COLUMNS} from tokens t join directories d on d.id = t.directory_id where t.id = $1"
        );
        let row: TokenRow = sqlx::query_as(&query)
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(row.into_credential()?.record)
    }

    async fn create_first_token(
        &self,
        directory: DirectoryId,
        scope: TokenScope,
        lookup_prefix: &str,
        hash: &[u8],
    ) -> Result<Option<TokenRecord>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // This lock mode conflicts with itself and with inserts, but not with
        // reads, so two servers starting at once take turns here and the
        // second one sees the first one's token.
        sqlx::query("lock table tokens in share row exclusive mode")
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let existing: i64 = sqlx::query_scalar("select count(*) from tokens")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        if existing > 0 {
            return Ok(None);
        }
        let id = Uuid::now_v7();
        sqlx::query(
            "insert into tokens (id, directory_id, scope, lookup_prefix, token_hash) values ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(directory)
        .bind(scope.as_str())
        .bind(lookup_prefix)
        .bind(hash)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let query = format!(
            "select {TOKEN_COLUMNS} from tokens t join directories d on d.id = t.directory_id where t.id = $1"
        );
        let row: TokenRow = sqlx::query_as(&query)
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(Some(row.into_credential()?.record))
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
        let updated = sqlx::query(
            "update tokens set revoked_at = now() where id = $1 and revoked_at is null",
        )
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let query = format!(
            "select {TOKEN_COLUMNS} from tokens t join directories d on d.id = t.directory_id where t.id = $1"
        );
        let row: TokenRow = sqlx::query_as(&query)
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(row.into_credential()?.record)
    }

    async fn live_tokens_by_prefix(
        &self,
        lookup_prefix: &str,
    ) -> Result<Vec<TokenCredential>, StoreError> {
        let query = format!(
            "select {TOKEN_COLUMNS} from tokens t join directories d on d.id = t.directory_id
             where t.lookup_prefix = $1 and t.revoked_at is null"
        );
        let rows: Vec<TokenRow> = sqlx::query_as(&query)
            .bind(lookup_prefix)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.into_iter().map(TokenRow::into_credential).collect()
    }

    async fn touch_token(&self, id: Uuid) -> Result<(), StoreError> {
        sqlx::query(
            "update tokens set last_used_at = now()
             where id = $1 and (last_used_at is null or last_used_at < now() - interval '1 minute')",
        )
        .bind(id)
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
        retry_aborted(|| users::create(&self.pool, directory, attributes.clone())).await
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
        retry_aborted(|| {
            users::update(&self.pool, directory, id, if_match, |_| {
                Ok(attributes.clone())
            })
        })
        .await
    }

    async fn patch_user(
        &self,
        directory: DirectoryId,
        id: Uuid,
        operations: &[PatchOperation],
        if_match: &IfMatch,
    ) -> Result<StoredResource, StoreError> {
        retry_aborted(|| {
            users::update(&self.pool, directory, id, if_match, |current| {
                let mut patched = current.clone();
                crate::scim::patch::apply_user_patch(&mut patched, operations)?;
                Ok(patched)
            })
        })
        .await
    }

    async fn delete_user(
        &self,
        directory: DirectoryId,
        id: Uuid,
        if_match: &IfMatch,
    ) -> Result<(), StoreError> {
        retry_aborted(|| users::delete(&self.pool, directory, id, if_match)).await
    }

    async fn create_group(
        &self,
        directory: DirectoryId,
        attributes: Value,
        members: Vec<MemberRef>,
    ) -> Result<StoredResource, StoreError> {
        retry_aborted(|| groups::create(&self.pool, directory, attributes.clone(), members.clone()))
            .await
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
        let plan = members
            .as_deref()
            .map(super::members::MembershipPlan::replace_with)
            .unwrap_or_default();
        let updated = retry_aborted(|| {
            groups::update(&self.pool, directory, id, if_match, response, |_| {
                Ok((attributes.clone(), plan.clone()))
            })
        })
        .await?;
        updated.ok_or(StoreError::NotFound)
    }

    async fn patch_group(
        &self,
        directory: DirectoryId,
        id: Uuid,
        operations: &[PatchOperation],
        if_match: &IfMatch,
        response: PatchResponse,
    ) -> Result<Option<StoredResource>, StoreError> {
        retry_aborted(|| {
            groups::update(&self.pool, directory, id, if_match, response, |current| {
                let mut patched = current.clone();
                let member_ops = crate::scim::patch::apply_group_patch(&mut patched, operations)?;
                Ok((patched, super::members::fold_member_ops(&member_ops)))
            })
        })
        .await
    }

    async fn delete_group(
        &self,
        directory: DirectoryId,
        id: Uuid,
        if_match: &IfMatch,
    ) -> Result<(), StoreError> {
        retry_aborted(|| groups::delete(&self.pool, directory, id, if_match)).await
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
        feed::watch_changes(&self.pool, signal).await
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
        webhooks::update_endpoint(&self.pool, id, update, reason).await
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
        lease: std::time::Duration,
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
        transfer::import(&self.pool, name, data).await
    }
}
