//! Webhooks: endpoint registration rules, signing, the retry schedule, and
//! the dispatcher that delivers the outbox. Backend-independent: the store
//! keeps endpoints and deliveries.

pub mod dispatcher;
pub mod retry;
pub mod signature;

use std::time::Duration;

use serde_json::{json, Value};

use crate::scim::render::format_time;
use crate::store::changes::ChangeKind;
use crate::store::webhooks::WebhookEndpoint;
use retry::RetryPolicy;

/// Dispatcher settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Retry schedule and disable rule.
    pub retry: RetryPolicy,
    /// Time limit of one HTTP attempt.
    pub request_timeout: Duration,
    /// How long a claimed delivery stays with the replica that claimed it.
    /// It must exceed `request_timeout`, so that another replica never
    /// repeats a live replica's attempt, and be short enough that a crashed
    /// replica's deliveries are retried soon.
    pub lease: Duration,
    /// How often the dispatcher looks for due retries when no change wakes it.
    pub poll_interval: Duration,
    /// Maximum deliveries claimed and attempted at once by one replica.
    pub batch_size: u32,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(10),
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            batch_size: 16,
        }
    }
}

/// Returns every event type an endpoint may subscribe to.
pub fn event_types() -> Vec<&'static str> {
    ChangeKind::ALL.iter().map(|kind| kind.as_str()).collect()
}

/// Checks a list of event types; an empty list subscribes to all of them.
pub fn validate_event_types(types: &[String]) -> Result<(), String> {
    let known = event_types();
    for event_type in types {
        if !known.contains(&event_type.as_str()) {
            return Err(format!(
                "unknown event type '{event_type}': use one of {}",
                known.join(", ")
            ));
        }
    }
    Ok(())
}

/// Checks an endpoint URL: absolute http or https with a host, and no user
/// name or password, which listings would otherwise show to every reader
/// of the admin API (requests are authenticated by their signature).
pub fn validate_url(url: &str) -> Result<(), String> {
    let parsed =
        reqwest::Url::parse(url).map_err(|err| format!("invalid endpoint URL '{url}': {err}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "invalid endpoint URL '{url}': it must be an absolute http:// or https:// URL"
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "invalid endpoint URL: it must not contain a user name or password; receivers \
             authenticate deliveries by their webhook-signature header"
                .to_owned(),
        );
    }
    Ok(())
}

/// Renders an endpoint for the admin API and CLI, without its secret.
pub fn endpoint_json(endpoint: &WebhookEndpoint) -> Value {
    let time = |value: &Option<chrono::DateTime<chrono::Utc>>| value.as_ref().map(format_time);
    json!({
        "id": endpoint.id.to_string(),
        "directory_id": endpoint.directory_id.to_string(),
        "url": endpoint.url,
        "event_types": endpoint.event_types,
        "enabled": endpoint.disabled_at.is_none(),
        "disabled_at": time(&endpoint.disabled_at),
        "disabled_reason": endpoint.disabled_reason,
        "consecutive_failures": endpoint.consecutive_failures,
        "failing_since": time(&endpoint.failing_since),
        "last_success_at": time(&endpoint.last_success_at),
        "created_at": format_time(&endpoint.created_at),
        "updated_at": format_time(&endpoint.updated_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_with_credentials_rejected() {
        let err = validate_url("http://user:pass@127.0.0.1:9000/hook").unwrap_err();
        assert!(!err.contains("pass@"), "{err}");
        assert!(validate_url("https://receiver.example/hook").is_ok());
    }

    #[test]
    fn event_type_validation() {
        assert!(
            validate_event_types(&["user.created".into(), "group.member_added".into()]).is_ok()
        );
        let err = validate_event_types(&["user.exploded".into()]).unwrap_err();
        assert!(err.contains("'user.exploded'"), "{err}");
        assert!(err.contains("group.member_removed"), "{err}");
    }

    #[test]
    fn url_validation() {
        assert!(validate_url("https://app.example.com/hooks").is_ok());
        assert!(validate_url("ftp://app.example.com").is_err());
        assert!(validate_url("/hooks").is_err());
    }
}
