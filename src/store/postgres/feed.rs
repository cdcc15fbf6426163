//! Change feed reads, retention and commit notifications on PostgreSQL.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use uuid::Uuid;

use super::{db_error, CHANGE_CHANNEL};
use crate::store::feed::{ChangeBatch, ChangeRecord};
use crate::store::{DirectoryId, StoreError};

#[derive(sqlx::FromRow)]
struct ChangeRow {
    seq: i64,
    directory_id: Uuid,
    resource_type: String,
    resource_id: Uuid,
    kind: String,
    occurred_at: DateTime<Utc>,
    data: Value,
}

impl From<ChangeRow> for ChangeRecord {
    fn from(row: ChangeRow) -> Self {
        ChangeRecord {
            seq: row.seq,
            directory_id: DirectoryId(row.directory_id),
            resource_type: row.resource_type,
            resource_id: row.resource_id,
            kind: row.kind,
            occurred_at: row.occurred_at,
            data: row.data,
        }
    }
}

pub(super) async fn feed_head(pool: &PgPool, directory: DirectoryId) -> Result<i64, StoreError> {
    sqlx::query_scalar(
        r#"select greatest(
               (select coalesce(max(seq), 0) from changes where directory_id = $1),
               (select pruned_through from change_retention))"#,
    )
    .bind(directory)
    .fetch_one(pool)
    .await
    .map_err(db_error)
}

pub(super) async fn read_changes(
    pool: &PgPool,
    directory: DirectoryId,
    after: i64,
    limit: u32,
) -> Result<ChangeBatch, StoreError> {
    // One repeatable-read snapshot for both queries: a prune that commits
    // between them cannot delete records this read then silently skips.
    let mut tx = pool.begin().await.map_err(db_error)?;
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    let pruned_through: i64 = sqlx::query_scalar("select pruned_through from change_retention")
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
    let newest: Option<i64> = sqlx::query_scalar("select max(seq) from changes")
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
    let rows: Vec<ChangeRow> = sqlx::query_as(
        r#"select seq, directory_id, resource_type, resource_id, kind, occurred_at, data
           from changes
           where directory_id = $1 and seq > $2
           order by seq
           limit $3"#,
    )
    .bind(directory)
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(&mut *tx)
    .await
    .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    Ok(ChangeBatch {
        pruned_through,
        head: newest.unwrap_or(0).max(pruned_through),
        records: rows.into_iter().map(ChangeRecord::from).collect(),
    })
}

pub(super) async fn prune_changes(pool: &PgPool, before: DateTime<Utc>) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await.map_err(db_error)?;
    // Delete a prefix of the log: everything up to the newest record older
    // than the cutoff. `occurred_at` is not strictly increasing in `seq`,
    // and a prefix keeps `pruned_through` exact.
    let boundary: Option<i64> =
        sqlx::query_scalar("select max(seq) from changes where occurred_at < $1")
            .bind(before)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
    let mut deleted = 0;
    if let Some(boundary) = boundary {
        deleted = sqlx::query("delete from changes where seq <= $1")
            .bind(boundary)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?
            .rows_affected();
        sqlx::query("update change_retention set pruned_through = greatest(pruned_through, $1)")
            .bind(boundary)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
    }
    sqlx::query("delete from webhook_deliveries where status = 'delivered' and delivered_at < $1")
        .bind(before)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    Ok(deleted)
}

pub(super) async fn watch_changes(
    pool: &PgPool,
    signal: &tokio::sync::watch::Sender<u64>,
) -> Result<(), StoreError> {
    let mut listener = PgListener::connect_with(pool).await.map_err(db_error)?;
    listener.listen(CHANGE_CHANNEL).await.map_err(db_error)?;
    loop {
        // `None` means the connection was lost and re-established, and
        // notifications sent meanwhile are gone: wake every waiter so that it
        // reads the log again.
        match listener.try_recv().await.map_err(db_error)? {
            Some(notification) => {
                tracing::trace!(directory.id = notification.payload(), "change committed");
            }
            None => tracing::warn!("change notification connection lost and re-established"),
        }
        signal.send_modify(|count| *count = count.wrapping_add(1));
    }
}
