//! Webhook endpoints and their deliveries (the outbox), as stored.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::feed::ChangeRecord;
use super::DirectoryId;

/// A registered webhook endpoint. `Debug` and serialisation leave out the
/// secret.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct WebhookEndpoint {
    /// Identifier.
    pub id: Uuid,
    /// Directory whose events are sent.
    pub directory_id: DirectoryId,
    /// URL that deliveries are posted to.
    pub url: String,
    /// Event types sent; empty means every type.
    pub event_types: Vec<String>,
    /// Signing secret, `whsec_` followed by base64.
    #[serde(skip)]
    pub secret: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change of the registration.
    pub updated_at: DateTime<Utc>,
    /// When the endpoint was disabled; `None` while enabled.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// Failed attempts since the last successful one.
    pub consecutive_failures: i32,
    /// Start of the current run of failures.
    pub failing_since: Option<DateTime<Utc>>,
    /// Last successful delivery.
    pub last_success_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("id", &self.id)
            .field("directory_id", &self.directory_id)
            .field("url", &self.url)
            .field("event_types", &self.event_types)
            .field("disabled_at", &self.disabled_at)
            .finish_non_exhaustive()
    }
}

/// Changes to an endpoint's registration; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointUpdate {
    /// New URL.
    pub url: Option<String>,
    /// New event types.
    pub event_types: Option<Vec<String>>,
    /// `Some(true)` enables the endpoint and clears its failure count,
    /// `Some(false)` disables it.
    pub enabled: Option<bool>,
}

/// State of a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not yet acknowledged by the receiver; retried until it is.
    Pending,
    /// Acknowledged with a 2xx status.
    Delivered,
}

impl DeliveryStatus {
    /// Parses the stored name.
    pub fn from_db(value: &str) -> Option<Self> {
        match value {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            _ => None,
        }
    }
}

/// One row of the delivery log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeliveryRecord {
    /// Identifier, also sent as the `webhook-id` header.
    pub id: Uuid,
    /// Endpoint.
    pub endpoint_id: Uuid,
    /// Change feed position of the event.
    pub seq: i64,
    /// Event type.
    pub event_type: String,
    /// Resource the event is about.
    pub resource_id: Uuid,
    /// Delivery state.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: i32,
    /// Earliest time of the next attempt (pending deliveries).
    pub next_attempt_at: DateTime<Utc>,
    /// Time of the last attempt.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// HTTP status of the last attempt, if the receiver answered.
    pub last_status_code: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the receiver acknowledged it.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When the delivery was queued.
    pub created_at: DateTime<Utc>,
}

/// A delivery claimed by one replica under a lease.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimedDelivery {
    /// Delivery id.
    pub id: Uuid,
    /// Lease token: completing the delivery requires it, so that a replica
    /// whose lease expired cannot overwrite a newer attempt's result.
    pub lease_id: Uuid,
    /// Attempts made before this one.
    pub attempts: i32,
    /// Endpoint id.
    pub endpoint_id: Uuid,
    /// Endpoint URL.
    pub url: String,
    /// Endpoint signing secret.
    pub secret: String,
    /// The change to send.
    pub change: ChangeRecord,
}

/// Result of one delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The receiver answered 2xx.
    Delivered {
        /// The status code.
        status_code: u16,
    },
    /// The attempt failed and is retried at `next_attempt_at`.
    Failed {
        /// The status code, if the receiver answered.
        status_code: Option<u16>,
        /// What went wrong, without the response body.
        error: String,
        /// When to try again.
        next_attempt_at: DateTime<Utc>,
    },
}

/// Failure state of an endpoint after a failed attempt was recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointHealth {
    /// Failed attempts since the last successful one.
    pub consecutive_failures: i32,
    /// Start of the current run of failures.
    pub failing_since: DateTime<Utc>,
}

/// What recording an attempt's outcome did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    /// The lease had expired and another attempt holds the delivery, so
    /// nothing was written.
    LeaseLost,
    /// The outcome was written; after a failure, with the endpoint's
    /// failure state.
    Recorded(Option<EndpointHealth>),
}
