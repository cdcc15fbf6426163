//! The dispatcher: a background task on every replica that claims due
//! deliveries from the outbox, posts them signed, and records the outcome.
//!
//! Several replicas can share one database: a delivery is claimed under a
//! lease (see [`crate::store::Store::claim_deliveries`]), so one replica at a
//! time attempts it. Delivery is at-least-once. A replica that dies after
//! the receiver responded but before the outcome was written leaves the
//! lease to expire, and the delivery is sent again with the same
//! `webhook-id`, which receivers use to drop duplicates.

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::retry::RetryPolicy;
use super::signature::{decode_secret, sign};
use super::WebhookSettings;
use crate::feed::event_json;
use crate::store::webhooks::{AttemptOutcome, ClaimedDelivery, Completion, EndpointUpdate};
use crate::store::SharedStore;

/// Runs until `shutdown` becomes true, then finishes the attempts in flight.
/// `wake` is bumped on every committed change, so that new events go out
/// without waiting for the poll interval.
pub async fn run(
    store: SharedStore,
    settings: WebhookSettings,
    mut wake: watch::Receiver<u64>,
    mut shutdown: watch::Receiver<bool>,
) {
    let client = match reqwest::Client::builder()
        .timeout(settings.request_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("scimgate/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            tracing::error!(error = %err, "webhook dispatcher not started: cannot build the HTTP client");
            return;
        }
    };
    let context = Arc::new(Context {
        store,
        settings,
        client,
    });
    tracing::info!("webhook dispatcher started");
    while !*shutdown.borrow() {
        let claimed = match context
            .store
            .claim_deliveries(settings.lease, settings.batch_size)
            .await
        {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::warn!(error = %err, retry_in = ?settings.poll_interval,
                    "failed to claim webhook deliveries; retrying");
                Vec::new()
            }
        };
        if claimed.is_empty() {
            // A closed channel falls back to the poll interval, so that this
            // loop never spins.
            tokio::select! {
                result = wake.changed() => {
                    if result.is_err() {
                        tokio::time::sleep(settings.poll_interval).await;
                    }
                }
                result = shutdown.changed() => {
                    if result.is_err() {
                        tokio::time::sleep(settings.poll_interval).await;
                    }
                }
                () = tokio::time::sleep(settings.poll_interval) => {}
            }
            continue;
        }
        let mut attempts = JoinSet::new();
        for delivery in claimed {
            attempts.spawn(attempt(context.clone(), delivery));
        }
        while let Some(result) = attempts.join_next().await {
            if let Err(err) = result {
                tracing::error!(error = %err, "webhook delivery task failed");
            }
        }
    }
    tracing::info!("webhook dispatcher stopped");
}

struct Context {
    store: SharedStore,
    settings: WebhookSettings,
    client: reqwest::Client,
}

/// Attempts one delivery and records the outcome.
async fn attempt(context: Arc<Context>, delivery: ClaimedDelivery) {
    let outcome = post(&context, &delivery).await;
    match &outcome {
        AttemptOutcome::Delivered { status_code } => tracing::info!(
            delivery.id = %delivery.id, webhook.id = %delivery.endpoint_id,
            event.id = delivery.change.seq, http.status = status_code, "webhook delivered"),
        AttemptOutcome::Failed {
            error,
            next_attempt_at,
            ..
        } => tracing::warn!(
            delivery.id = %delivery.id, webhook.id = %delivery.endpoint_id,
            event.id = delivery.change.seq, attempts = delivery.attempts + 1, error = %error,
            next_attempt_at = %next_attempt_at, "webhook delivery failed; it will be retried"),
    }

    match context.store.complete_delivery(&delivery, &outcome).await {
        Ok(Completion::Recorded(Some(health))) => {
            if context.settings.retry.should_disable(&health, Utc::now()) {
                disable_endpoint(&context, &delivery, health.consecutive_failures).await;
            }
        }
        Ok(Completion::Recorded(None)) => {}
        Ok(Completion::LeaseLost) => tracing::warn!(
            delivery.id = %delivery.id, webhook.id = %delivery.endpoint_id,
            "webhook delivery lease expired before the outcome was recorded; another attempt owns it \
             (raise the lease above the request timeout if this repeats)"),
        Err(err) => tracing::error!(
            delivery.id = %delivery.id, webhook.id = %delivery.endpoint_id, error = %err,
            "failed to record a webhook delivery outcome; it will be attempted again when its lease expires"),
    }
}

async fn disable_endpoint(context: &Context, delivery: &ClaimedDelivery, failures: i32) {
    let RetryPolicy { disable_after, .. } = context.settings.retry;
    let reason = format!(
        "disabled automatically after {failures} consecutive failed attempts over at least {} s",
        disable_after.as_secs()
    );
    let update = EndpointUpdate {
        enabled: Some(false),
        ..EndpointUpdate::default()
    };
    match context
        .store
        .update_webhook_endpoint(delivery.endpoint_id, &update, &reason)
        .await
    {
        Ok(_) => tracing::error!(
            webhook.id = %delivery.endpoint_id, directory.id = %delivery.change.directory_id,
            consecutive_failures = failures,
            "webhook endpoint disabled after repeated failures; fix the receiver, then re-enable it \
             with 'scimgate webhook enable {}' or PATCH /admin/v1/webhooks/{{id}}",
            delivery.endpoint_id),
        Err(err) => tracing::error!(
            webhook.id = %delivery.endpoint_id, error = %err,
            "failed to disable a failing webhook endpoint"),
    }
}

/// Sends one signed POST; never returns an error, only an outcome.
async fn post(context: &Context, delivery: &ClaimedDelivery) -> AttemptOutcome {
    let failed = |status_code: Option<u16>, error: String| {
        let delay = context
            .settings
            .retry
            .delay_with_jitter(delivery.attempts + 1, &mut rand::thread_rng());
        AttemptOutcome::Failed {
            status_code,
            error,
            next_attempt_at: Utc::now()
                + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1)),
        }
    };
    let key = match decode_secret(&delivery.secret) {
        Ok(key) => key,
        Err(err) => return failed(None, format!("the endpoint's secret is unusable: {err}")),
    };
    let body = match serde_json::to_vec(&event_json(&delivery.change)) {
        Ok(body) => body,
        Err(err) => return failed(None, format!("cannot serialise the event: {err}")),
    };
    let message_id = format!("msg_{}", delivery.id.simple());
    let timestamp = Utc::now().timestamp();
    let signature = sign(&key, &message_id, timestamp, &body);

    let response = context
        .client
        .post(&delivery.url)
        .header("content-type", "application/json")
        .header("webhook-id", &message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    match response {
        Ok(response) if response.status().is_success() => AttemptOutcome::Delivered {
            status_code: response.status().as_u16(),
        },
        Ok(response) => {
            let status = response.status();
            failed(
                Some(status.as_u16()),
                format!("the receiver answered HTTP {status}"),
            )
        }
        // Without the URL: it may carry a credential in its query string.
        Err(err) => failed(None, format!("request failed: {}", err.without_url())),
    }
}
