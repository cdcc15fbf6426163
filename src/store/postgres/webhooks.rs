//! Webhook endpoints and the delivery outbox on PostgreSQL.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::{db_error, now};
use crate::store::feed::ChangeRecord;
use crate::store::webhooks::{
    AttemptOutcome, ClaimedDelivery, Completion, DeliveryRecord, DeliveryStatus, EndpointHealth,
    EndpointUpdate, WebhookEndpoint,
};
use crate::store::{DirectoryId, StoreError};

#[derive(sqlx::FromRow)]
struct EndpointRow {
    id: Uuid,
    directory_id: Uuid,
    url: String,
    event_types: Vec<String>,
    secret: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    disabled_at: Option<DateTime<Utc>>,
    disabled_reason: Option<String>,
    consecutive_failures: i32,
    failing_since: Option<DateTime<Utc>>,
    last_success_at: Option<DateTime<Utc>>,
}

impl From<EndpointRow> for WebhookEndpoint {
    fn from(row: EndpointRow) -> Self {
        WebhookEndpoint {
            id: row.id,
            directory_id: DirectoryId(row.directory_id),
            url: row.url,
            event_types: row.event_types,
            secret: row.secret,
            created_at: row.created_at,
            updated_at: row.updated_at,
            disabled_at: row.disabled_at,
            disabled_reason: row.disabled_reason,
            consecutive_failures: row.consecutive_failures,
            failing_since: row.failing_since,
            last_success_at: row.last_success_at,
        }
    }
}

const ENDPOINT_COLUMNS: &str =
    "id, directory_id, url, event_types, secret, created_at, updated_at, \
     disabled_at, disabled_reason, consecutive_failures, failing_since, last_success_at";

pub(super) async fn create_endpoint(
    pool: &PgPool,
    directory: DirectoryId,
    url: &str,
    event_types: &[String],
    secret: &str,
) -> Result<WebhookEndpoint, StoreError> {
    let query = format!(
        "insert into webhook_endpoints (id, directory_id, url, event_types, secret, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $6) returning {ENDPOINT_COLUMNS}"
    );
    let row: EndpointRow = sqlx::query_as(&query)
        .bind(Uuid::now_v7())
        .bind(directory)
        .bind(url)
        .bind(event_types)
        .bind(secret)
        .bind(now())
        .fetch_one(pool)
        .await
        .map_err(db_error)?;
    Ok(row.into())
}

pub(super) async fn list_endpoints(
    pool: &PgPool,
    directory: Option<DirectoryId>,
) -> Result<Vec<WebhookEndpoint>, StoreError> {
    let query = format!(
        "select {ENDPOINT_COLUMNS} from webhook_endpoints
         where $1::uuid is null or directory_id = $1 order by created_at, id"
    );
    let rows: Vec<EndpointRow> = sqlx::query_as(&query)
        .bind(directory)
        .fetch_all(pool)
        .await
        .map_err(db_error)?;
    Ok(rows.into_iter().map(WebhookEndpoint::from).collect())
}

pub(super) async fn get_endpoint(pool: &PgPool, id: Uuid) -> Result<WebhookEndpoint, StoreError> {
    let query = format!("select {ENDPOINT_COLUMNS} from webhook_endpoints where id = $1");
    let row: EndpointRow = sqlx::query_as(&query)
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(db_error)?
        .ok_or(StoreError::NotFound)?;
    Ok(row.into())
}

pub(super) async fn update_endpoint(
    pool: &PgPool,
    id: Uuid,
    update: &EndpointUpdate,
    reason: &str,
) -> Result<WebhookEndpoint, StoreError> {
    // Enabling clears the failure state, so that the endpoint gets the full
    // threshold again; disabling keeps an earlier reason if already disabled.
    let query = format!(
        r#"update webhook_endpoints set
               url = coalesce($2, url),
               event_types = coalesce($3, event_types),
               disabled_at = case when $4 is null then disabled_at
                                  when $4 then null
                                  else coalesce(disabled_at, $6) end,
               disabled_reason = case when $4 is null then disabled_reason
                                      when $4 then null
                                      else coalesce(disabled_reason, $5) end,
               consecutive_failures = case when $4 then 0 else consecutive_failures end,
               failing_since = case when $4 then null else failing_since end,
               updated_at = $6
           where id = $1
           returning {ENDPOINT_COLUMNS}"#
    );
    let mut tx = pool.begin().await.map_err(db_error)?;
    let row: EndpointRow = sqlx::query_as(&query)
        .bind(id)
        .bind(&update.url)
        .bind(&update.event_types)
        .bind(update.enabled)
        .bind(reason)
        .bind(now())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?
        .ok_or(StoreError::NotFound)?;
    if update.enabled == Some(true) {
        // Pending deliveries go out now rather than at the end of the backoff
        // they reached while the endpoint was failing.
        sqlx::query(
            "update webhook_deliveries set next_attempt_at = now()
             where endpoint_id = $1 and status = 'pending'",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    }
    tx.commit().await.map_err(db_error)?;
    Ok(row.into())
}

pub(super) async fn delete_endpoint(pool: &PgPool, id: Uuid) -> Result<(), StoreError> {
    let deleted = sqlx::query("delete from webhook_endpoints where id = $1")
        .bind(id)
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
    id: Uuid,
    endpoint_id: Uuid,
    seq: i64,
    kind: String,
    resource_id: Uuid,
    status: String,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    last_attempt_at: Option<DateTime<Utc>>,
    last_status_code: Option<i32>,
    last_error: Option<String>,
    delivered_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
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
            id: self.id,
            endpoint_id: self.endpoint_id,
            seq: self.seq,
            event_type: self.kind,
            resource_id: self.resource_id,
            status,
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at,
            last_attempt_at: self.last_attempt_at,
            last_status_code: self.last_status_code,
            last_error: self.last_error,
            delivered_at: self.delivered_at,
            created_at: self.created_at,
        })
    }
}

pub(super) async fn list_deliveries(
    pool: &PgPool,
    endpoint: Uuid,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<DeliveryRecord>, StoreError> {
    get_endpoint(pool, endpoint).await?;
    let rows: Vec<DeliveryRow> = sqlx::query_as(
        r#"select id, endpoint_id, seq, kind, resource_id, status, attempts, next_attempt_at,
                  last_attempt_at, last_status_code, last_error, delivered_at, created_at
           from webhook_deliveries
           where endpoint_id = $1 and ($2::bigint is null or seq < $2)
           order by seq desc
           limit $3"#,
    )
    .bind(endpoint)
    .bind(before)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    rows.into_iter().map(DeliveryRow::into_record).collect()
}

#[derive(sqlx::FromRow)]
struct ClaimRow {
    id: Uuid,
    attempts: i32,
    endpoint_id: Uuid,
    url: String,
    secret: String,
    seq: i64,
    directory_id: Uuid,
    resource_type: String,
    resource_id: Uuid,
    kind: String,
    occurred_at: DateTime<Utc>,
    data: Value,
}

pub(super) async fn claim_deliveries(
    pool: &PgPool,
    lease: Duration,
    limit: u32,
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    let lease_id = Uuid::new_v4();
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    // `for update skip locked` lets replicas claim concurrently without
    // waiting on each other. After this short transaction commits, the
    // lease keeps the delivery with the claiming replica until it records
    // the outcome or the lease expires (a crashed replica). The `not exists`
    // keeps a resource's deliveries to one endpoint in sequence order,
    // because a later one waits while an earlier one is pending, in flight
    // or not.
    let rows: Vec<ClaimRow> = sqlx::query_as(
        r#"with due as (
               select d.id
               from webhook_deliveries d
               join webhook_endpoints e on e.id = d.endpoint_id
               where d.status = 'pending'
                 and e.disabled_at is null
                 and d.next_attempt_at <= now()
                 and (d.leased_until is null or d.leased_until < now())
                 and not exists (
                     select 1 from webhook_deliveries p
                     where p.endpoint_id = d.endpoint_id and p.resource_id = d.resource_id
                       and p.status = 'pending' and p.seq < d.seq)
               order by d.seq
               limit $1
               for update of d skip locked
           )
           update webhook_deliveries d
           set leased_until = now() + $2 * interval '1 millisecond', lease_id = $3
           from due, webhook_endpoints e
           where d.id = due.id and e.id = d.endpoint_id
           returning d.id, d.attempts, d.endpoint_id, e.url, e.secret, d.seq, d.directory_id,
                     d.resource_type, d.resource_id, d.kind, d.occurred_at, d.data"#,
    )
    .bind(i64::from(limit))
    .bind(lease_ms)
    .bind(lease_id)
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    let mut claimed: Vec<ClaimedDelivery> = rows
        .into_iter()
        .map(|row| ClaimedDelivery {
            id: row.id,
            lease_id,
            attempts: row.attempts,
            endpoint_id: row.endpoint_id,
            url: row.url,
            secret: row.secret,
            change: ChangeRecord {
                seq: row.seq,
                directory_id: DirectoryId(row.directory_id),
                resource_type: row.resource_type,
                resource_id: row.resource_id,
                kind: row.kind,
                occurred_at: row.occurred_at,
                data: row.data,
            },
        })
        .collect();
    claimed.sort_by_key(|delivery| delivery.change.seq);
    Ok(claimed)
}

pub(super) async fn complete_delivery(
    pool: &PgPool,
    delivery: &ClaimedDelivery,
    outcome: &AttemptOutcome,
) -> Result<Completion, StoreError> {
    let mut tx = pool.begin().await.map_err(db_error)?;
    let at = now();
    let (status_code, updated) = match outcome {
        AttemptOutcome::Delivered { status_code } => {
            let updated = sqlx::query(
                r#"update webhook_deliveries
                   set status = 'delivered', attempts = attempts + 1, last_attempt_at = $3,
                       last_status_code = $4, last_error = null, delivered_at = $3,
                       leased_until = null, lease_id = null
                   where id = $1 and lease_id = $2 and status = 'pending'"#,
            )
            .bind(delivery.id)
            .bind(delivery.lease_id)
            .bind(at)
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
                   set attempts = attempts + 1, last_attempt_at = $3, last_status_code = $4,
                       last_error = $5, next_attempt_at = $6, leased_until = null, lease_id = null
                   where id = $1 and lease_id = $2 and status = 'pending'"#,
            )
            .bind(delivery.id)
            .bind(delivery.lease_id)
            .bind(at)
            .bind(status_code.map(i32::from))
            .bind(error)
            .bind(next_attempt_at)
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
                   set consecutive_failures = 0, failing_since = null, last_success_at = $2
                   where id = $1"#,
            )
            .bind(delivery.endpoint_id)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            None
        }
        AttemptOutcome::Failed { .. } => {
            let (consecutive_failures, failing_since): (i32, DateTime<Utc>) = sqlx::query_as(
                r#"update webhook_endpoints
                   set consecutive_failures = consecutive_failures + 1,
                       failing_since = coalesce(failing_since, $2)
                   where id = $1
                   returning consecutive_failures, failing_since"#,
            )
            .bind(delivery.endpoint_id)
            .bind(at)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
            Some(EndpointHealth {
                consecutive_failures,
                failing_since,
            })
        }
    };
    tx.commit().await.map_err(db_error)?;
    tracing::debug!(delivery.id = %delivery.id, http.status = ?status_code, "delivery attempt recorded");
    Ok(Completion::Recorded(health))
}
