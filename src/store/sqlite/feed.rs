//! Change feed reads, retention and commit notifications on SQLite.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::SqlitePool;
use tokio::sync::watch;
use uuid::fmt::Hyphenated;

use super::{begin_write, db_error, id_text, Timestamp};
use crate::store::feed::{ChangeBatch, ChangeRecord};
use crate::store::{DirectoryId, StoreError};

#[derive(sqlx::FromRow)]
struct ChangeRow {
    seq: i64,
    directory_id: Hyphenated,
    resource_type: String,
    resource_id: Hyphenated,
    kind: String,
    occurred_at: Timestamp,
    data: Json<Value>,
}

impl From<ChangeRow> for ChangeRecord {
    fn from(row: ChangeRow) -> Self {
        ChangeRecord {
            seq: row.seq,
            directory_id: DirectoryId(row.directory_id.into_uuid()),
            resource_type: row.resource_type,
            resource_id: row.resource_id.into_uuid(),
            kind: row.kind,
            occurred_at: row.occurred_at.0,
            data: row.data.0,
        }
    }
}

pub(super) async fn feed_head(
    pool: &SqlitePool,
    directory: DirectoryId,
) -> Result<i64, StoreError> {
    sqlx::query_scalar(
        r#"select max(
               (select coalesce(max(seq), 0) from changes where directory_id = ?1),
               (select pruned_through from change_retention))"#,
    )
    .bind(id_text(directory.0))
    .fetch_one(pool)
    .await
    .map_err(db_error)
}

pub(super) async fn read_changes(
    pool: &SqlitePool,
    directory: DirectoryId,
    after: i64,
    limit: u32,
) -> Result<ChangeBatch, StoreError> {
    // In WAL mode a transaction reads one snapshot from its first statement
    // on, so a prune that commits between the two queries cannot delete
    // records this read then silently skips.
    let mut tx = pool.begin().await.map_err(db_error)?;
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
           where directory_id = ?1 and seq > ?2
           order by seq
           limit ?3"#,
    )
    .bind(id_text(directory.0))
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

pub(super) async fn prune_changes(
    pool: &SqlitePool,
    before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut tx = begin_write(pool).await?;
    // Delete a prefix of the log: everything up to the newest record older
    // than the cutoff. `occurred_at` is not strictly increasing in `seq`,
    // and a prefix keeps `pruned_through` exact.
    let boundary: Option<i64> =
        sqlx::query_scalar("select max(seq) from changes where occurred_at < ?1")
            .bind(Timestamp(before))
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
    let mut deleted = 0;
    if let Some(boundary) = boundary {
        deleted = sqlx::query("delete from changes where seq <= ?1")
            .bind(boundary)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?
            .rows_affected();
        sqlx::query("update change_retention set pruned_through = max(pruned_through, ?1)")
            .bind(boundary)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
    }
    sqlx::query("delete from webhook_deliveries where status = 'delivered' and delivered_at < ?1")
        .bind(Timestamp(before))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    Ok(deleted)
}

/// Forwards the store's in-process commit signal to `signal` until the
/// store is dropped.
pub(super) async fn watch_changes(
    commits: &watch::Sender<u64>,
    signal: &watch::Sender<u64>,
) -> Result<(), StoreError> {
    let mut committed = commits.subscribe();
    while committed.changed().await.is_ok() {
        tracing::trace!("change committed");
        signal.send_modify(|count| *count = count.wrapping_add(1));
    }
    Err(StoreError::Unavailable(
        "the SQLite store was closed, so no more commits are signalled".to_owned(),
    ))
}
