//! Webhook endpoints and the delivery outbox on SQLite.
//!
//! Claims take SQLite's single write lock (`begin immediate`), so two
//! dispatchers on one file, in one process or several, never claim the same
//! delivery: each claim reads the leases of every earlier one. This replaces
//! `for update skip locked` of the PostgreSQL store, which SQLite lacks.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::SqlitePool;
use uuid::fmt::Hyphenated;
use uuid::Uuid;

use super::{begin_write, db_error, id_text, now, Timestamp};
use crate::store::feed::ChangeRecord;
use crate::store::webhooks::{
    AttemptOutcome, ClaimedDelivery, Completion, DeliveryRecord, DeliveryStatus, EndpointHealth,
    EndpointUpdate, WebhookEndpoint,
};
use crate::store::{DirectoryId, StoreError};

#[derive(sqlx::FromRow)]
struct EndpointRow {
    id: Hyphenated,
    directory_id: Hyphenated,
    url: String,
    event_types: Json<Vec<String>>,
    secret: String,
    created_at: Timestamp,
    updated_at: Timestamp,
    disabled_at: Option<Timestamp>,
    disabled_reason: Option<String>,
    consecutive_failures: i32,
    failing_since: Option<Timestamp>,
    last_success_at: Option<Timestamp>,
}

impl From<EndpointRow> for WebhookEndpoint {
    fn from(row: EndpointRow) -> Self {
        WebhookEndpoint {
            id: row.id.into_uuid(),
            directory_id: DirectoryId(row.directory_id.into_uuid()),
            url: row.url,
            event_types: row.event_types.0,
            secret: row.secret,
            created_at: row.created_at.0,
            updated_at: row.updated_at.0,
            disabled_at: row.disabled_at.map(|at| at.0),
            disabled_reason: row.disabled_reason,
            consecutive_failures: row.consecutive_failures,
            failing_since: row.failing_since.map(|at| at.0),
            last_success_at: row.last_success_at.map(|at| at.0),
        }
    }
}

const ENDPOINT_COLUMNS: &str =
    "id, directory_id, url, event_types, secret, created_at, updated_at, \
     disabled_at, disabled_reason, consecutive_failures, failing_since, last_success_at";

pub(super) async fn create_endpoint(
    pool: &SqlitePool,
    directory: DirectoryId,
    url: &str,
    event_types: &[String],
    secret: &str,
) -> Result<WebhookEndpoint, StoreError> {
    let query = format!(
        "insert into webhook_endpoints (id, directory_id, url, event_types, secret, created_at, updated_at)
         values (?1, ?2, ?3, ?4, ?5, ?6, ?6) returning {ENDPOINT_COLUMNS}"
    );
    let row: EndpointRow = sqlx::query_as(&query)
        .bind(id_text(Uuid::now_v7()))
        .bind(id_text(directory.0))
        .bind(url)
        .bind(Json(event_types))
        .bind(secret)
        .bind(Timestamp(now()))
        .fetch_one(pool)
        .await
        .map_err(db_error)?;
    Ok(row.into())
}

pub(super) async fn list_endpoints(
    pool: &SqlitePool,
    directory: Option<DirectoryId>,
) -> Result<Vec<WebhookEndpoint>, StoreError> {
    let query = format!(
        "select {ENDPOINT_COLUMNS} from webhook_endpoints
         where ?1 is null or directory_id = ?1 order by created_at, id"
    );
    let rows: Vec<EndpointRow> = sqlx::query_as(&query)
        .bind(directory.map(|directory| id_text(directory.0)))
        .fetch_all(pool)
        .await
        .map_err(db_error)?;
    Ok(rows.into_iter().map(WebhookEndpoint::from).collect())
}

pub(super) async fn get_endpoint(
    pool: &SqlitePool,
    id: Uuid,
) -> Result<WebhookEndpoint, StoreError> {
    let query = format!("select {ENDPOINT_COLUMNS} from webhook_endpoints where id = ?1");
    let row: EndpointRow = sqlx::query_as(&query)
        .bind(id_text(id))
        .fetch_optional(pool)
        .await
        .map_err(db_error)?
        .ok_or(StoreError::NotFound)?;
    Ok(row.into())
}

pub(super) async fn update_endpoint(
    pool: &SqlitePool,
    id: Uuid,
    update: &EndpointUpdate,
    reason: &str,
) -> Result<WebhookEndpoint, StoreError> {
    // Enabling clears the failure state, so that the endpoint gets the full
    // threshold again; disabling keeps an earlier reason if already disabled.
    let query = format!(
        r#"update webhook_endpoints set
               url = coalesce(?2, url),
               event_types = coalesce(?3, event_types),
               disabled_at = case when ?4 is null then disabled_at
                                  when ?4 then null
                                  else coalesce(disabled_at, ?6) end,
               disabled_reason = case when ?4 is null then disabled_reason
                                      when ?4 then null
                                      else coalesce(disabled_reason, ?5) end,
               consecutive_failures = case when ?4 then 0 else consecutive_failures end,
               failing_since = case when ?4 then null else failing_since end,
               updated_at = ?6
           where id = ?1
           returning {ENDPOINT_COLUMNS}"#
    );
    let at = now();
    let mut tx = begin_write(pool).await?;
    let row: EndpointRow = sqlx::query_as(&query)
        .bind(id_text(id))
        .bind(&update.url)
        .bind(update.event_types.as_ref().map(Json))
        .bind(update.enabled)
        .bind(reason)
        .bind(Timestamp(at))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?
        .ok_or(StoreError::NotFound)?;
    if update.enabled == Some(true) {
        // Pending deliveries go out now rather than at the end of the backoff
        // they reached while the endpoint was failing.
        sqlx::query(
            "update webhook_deliveries set next_attempt_at = ?2
             where endpoint_id = ?1 and status = 'pending'",
        )
        .bind(id_text(id))
        .bind(Timestamp(at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    }
    tx.commit().await.map_err(db_error)?;
    Ok(row.into())
}

pub(super) async fn delete_endpoint(pool: &SqlitePool, id: Uuid) -> Result<(), StoreError> {
    let deleted = sqlx::query("delete from webhook_endpoints where id = ?1")
        .bind(id_text(id))
        .execute(pool)
        .await
        .map_err(db_error)?;
    if deleted.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: Hyphenated,
    endpoint_id: Hyphenated,
    seq: i64,
    kind: String,
    resource_id: Hyphenated,
    status: String,
    attempts: i32,
    next_attempt_at: Timestamp,
    last_attempt_at: Option<Timestamp>,
    last_status_code: Option<i32>,
    last_error: Option<String>,
    delivered_at: Option<Timestamp>,
    created_at: Timestamp,
}

impl DeliveryRow {
    fn into_record(self) -> Result<DeliveryRecord, StoreError> {
        let status = DeliveryStatus::from_db(&self.status).ok_or_else(|| {
            StoreError::Other(format!(
                "unknown delivery status '{}' in database",
                self.status
            ))
        })?;
        Ok(DeliveryRecord {
            id: self.id.into_uuid(),
            endpoint_id: self.endpoint_id.into_uuid(),
            seq: self.seq,
            event_type: self.kind,
            resource_id: self.resource_id.into_uuid(),
            status,
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at.0,
            last_attempt_at: self.last_attempt_at.map(|at| at.0),
            last_status_code: self.last_status_code,
            last_error: self.last_error,
            delivered_at: self.delivered_at.map(|at| at.0),
            created_at: self.created_at.0,
        })
    }
}

pub(super) async fn list_deliveries(
    pool: &SqlitePool,
    endpoint: Uuid,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<DeliveryRecord>, StoreError> {
    get_endpoint(pool, endpoint).await?;
    let rows: Vec<DeliveryRow> = sqlx::query_as(
        r#"select id, endpoint_id, seq, kind, resource_id, status, attempts, next_attempt_at,
                  last_attempt_at, last_status_code, last_error, delivered_at, created_at
           from webhook_deliveries
           where endpoint_id = ?1 and (?2 is null or seq < ?2)
           order by seq desc
           limit ?3"#,
    )
    .bind(id_text(endpoint))
    .bind(before)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    rows.into_iter().map(DeliveryRow::into_record).collect()
}

#[derive(sqlx::FromRow)]
struct ClaimRow {
    id: Hyphenated,
    attempts: i32,
    endpoint_id: Hyphenated,
    url: String,
    secret: String,
    seq: i64,
    directory_id: Hyphenated,
    resource_type: String,
    resource_id: Hyphenated,
    kind: String,
    occurred_at: Timestamp,
    data: Json<Value>,
}

impl ClaimRow {
    fn into_claim(self, lease_id: Uuid) -> ClaimedDelivery {
        ClaimedDelivery {
            id: self.id.into_uuid(),
            lease_id,
            attempts: self.attempts,
            endpoint_id: self.endpoint_id.into_uuid(),
            url: self.url,
            secret: self.secret,
            change: ChangeRecord {
                seq: self.seq,
                directory_id: DirectoryId(self.directory_id.into_uuid()),
                resource_type: self.resource_type,
                resource_id: self.resource_id.into_uuid(),
                kind: self.kind,
                occurred_at: self.occurred_at.0,
                data: self.data.0,
            },
        }
    }
}

pub(super) async fn claim_deliveries(
    pool: &SqlitePool,
    lease: Duration,
    limit: u32,
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    let lease_id = Uuid::new_v4();
    let at = now();
    let leased_until = chrono::Duration::from_std(lease)
        .ok()
        .and_then(|lease| at.checked_add_signed(lease))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    // A read first, without the write lock, so that an idle dispatcher does
    // not queue for the lock with SCIM writes on every poll.
    let any_due: bool = sqlx::query_scalar(
        r#"select exists (
               select 1 from webhook_deliveries d
               join webhook_endpoints e on e.id = d.endpoint_id
               where d.status = 'pending' and e.disabled_at is null
                 and d.next_attempt_at <= ?1
                 and (d.leased_until is null or d.leased_until < ?1))"#,
    )
    .bind(Timestamp(at))
    .fetch_one(pool)
    .await
    .map_err(db_error)?;
    if !any_due {
        return Ok(Vec::new());
    }

    // The write lock makes this claim a single writer's step (see the module
    // documentation). After it commits, the lease keeps the delivery with
    // this dispatcher until it records the outcome or the lease expires (a
    // crashed process). The `not exists` keeps a resource's deliveries to
    // one endpoint in sequence order, because a later one waits while an
    // earlier one is pending, in flight or not.
    let mut tx = begin_write(pool).await?;
    sqlx::query(
        r#"update webhook_deliveries
           set leased_until = ?2, lease_id = ?3
           where id in (
               select d.id
               from webhook_deliveries d
               join webhook_endpoints e on e.id = d.endpoint_id
               where d.status = 'pending'
                 and e.disabled_at is null
                 and d.next_attempt_at <= ?1
                 and (d.leased_until is null or d.leased_until < ?1)
                 and not exists (
                     select 1 from webhook_deliveries p
                     where p.endpoint_id = d.endpoint_id and p.resource_id = d.resource_id
                       and p.status = 'pending' and p.seq < d.seq)
               order by d.seq
               limit ?4)"#,
    )
    .bind(Timestamp(at))
    .bind(Timestamp(leased_until))
    .bind(id_text(lease_id))
    .bind(i64::from(limit))
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    let rows: Vec<ClaimRow> = sqlx::query_as(
        r#"select d.id, d.attempts, d.endpoint_id, e.url, e.secret, d.seq, d.directory_id,
                  d.resource_type, d.resource_id, d.kind, d.occurred_at, d.data
           from webhook_deliveries d
           join webhook_endpoints e on e.id = d.endpoint_id
           where d.lease_id = ?1
           order by d.seq"#,
    )
    .bind(id_text(lease_id))
    .fetch_all(&mut *tx)
    .await
    .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|row| row.into_claim(lease_id))
        .collect())
}

pub(super) async fn complete_delivery(
    pool: &SqlitePool,
    delivery: &ClaimedDelivery,
    outcome: &AttemptOutcome,
) -> Result<Completion, StoreError> {
    let at = now();
    let mut tx = begin_write(pool).await?;
    let (status_code, updated) = match outcome {
        AttemptOutcome::Delivered { status_code } => {
            let updated = sqlx::query(
                r#"update webhook_deliveries
                   set status = 'delivered', attempts = attempts + 1, last_attempt_at = ?3,
                       last_status_code = ?4, last_error = null, delivered_at = ?3,
                       leased_until = null, lease_id = null
                   where id = ?1 and lease_id = ?2 and status = 'pending'"#,
            )
            .bind(id_text(delivery.id))
            .bind(id_text(delivery.lease_id))
            .bind(Timestamp(at))
            .bind(i32::from(*status_code))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            (Some(*status_code), updated.rows_affected())
        }
        AttemptOutcome::Failed {
            status_code,
            error,
            next_attempt_at,
        } => {
            let updated = sqlx::query(
                r#"update webhook_deliveries
                   set attempts = attempts + 1, last_attempt_at = ?3, last_status_code = ?4,
                       last_error = ?5, next_attempt_at = ?6, leased_until = null, lease_id = null
                   where id = ?1 and lease_id = ?2 and status = 'pending'"#,
            )
            .bind(id_text(delivery.id))
            .bind(id_text(delivery.lease_id))
            .bind(Timestamp(at))
            .bind(status_code.map(i32::from))
            .bind(error)
            .bind(Timestamp(*next_attempt_at))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            (*status_code, updated.rows_affected())
        }
    };
    if updated == 0 {
        tx.rollback().await.map_err(db_error)?;
        return Ok(Completion::LeaseLost);
    }

    let health = match outcome {
        AttemptOutcome::Delivered { .. } => {
            sqlx::query(
                r#"update webhook_endpoints
                   set consecutive_failures = 0, failing_since = null, last_success_at = ?2
                   where id = ?1"#,
            )
            .bind(id_text(delivery.endpoint_id))
            .bind(Timestamp(at))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            None
        }
        AttemptOutcome::Failed { .. } => {
            let (consecutive_failures, failing_since): (i32, Timestamp) = sqlx::query_as(
                r#"update webhook_endpoints
                   set consecutive_failures = consecutive_failures + 1,
                       failing_since = coalesce(failing_since, ?2)
                   where id = ?1
                   returning consecutive_failures, failing_since"#,
            )
            .bind(id_text(delivery.endpoint_id))
            .bind(Timestamp(at))
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
            Some(EndpointHealth {
                consecutive_failures,
                failing_since: failing_since.0,
            })
        }
    };
    tx.commit().await.map_err(db_error)?;
    tracing::debug!(delivery.id = %delivery.id, http.status = ?status_code, "delivery attempt recorded");
    Ok(Completion::Recorded(health))
}
