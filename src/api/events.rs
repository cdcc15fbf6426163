//! `GET /api/v1/events`: the change feed, with long-polling.

use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::auth::ReadAuth;
use super::error::Problem;
use super::params::{parse_limit, query_rejection};
use crate::feed::{
    cursor_expired, event_json, expired_cursor_detail, format_cursor, parse_cursor,
    DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE,
};
use crate::http::AppState;
use crate::store::feed::ChangeBatch;

/// How often a waiting request reads the log even without a notification,
/// in case a notification was lost (for example while the listening
/// connection reconnected) or never sent. On SQLite, a commit by another
/// process on the same file wakes no request of this process.
const RECHECK_INTERVAL: Duration = Duration::from_secs(5);

/// Query parameters of `GET /api/v1/events`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    after: Option<String>,
    limit: Option<String>,
    wait: Option<String>,
}

fn parse_wait(text: Option<&str>, max: Duration) -> Result<Duration, Problem> {
    let Some(text) = text else {
        return Ok(Duration::ZERO);
    };
    let seconds: u64 = text.parse().map_err(|_| {
        Problem::BadRequest(format!(
            "invalid wait '{text}': send a whole number of seconds from 0 to {}",
            max.as_secs()
        ))
    })?;
    // A longer wait is shortened to the bound rather than rejected, so that
    // a consumer keeps working when an operator lowers the bound.
    Ok(Duration::from_secs(seconds).min(max))
}

/// Returns the events after the cursor `after` (from the start of the log
/// without it), waiting up to `wait` seconds for one if there is none yet.
/// A cursor older than the retention gets 410 Gone.
pub async fn list_events(
    State(state): State<AppState>,
    auth: ReadAuth,
    params: Result<Query<EventParams>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let Query(params) = params.map_err(query_rejection)?;
    let after = match params.after.as_deref() {
        Some(text) => parse_cursor(text).map_err(Problem::BadRequest)?,
        None => 0,
    };
    let limit = parse_limit(params.limit.as_deref(), DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let wait = parse_wait(params.wait.as_deref(), state.feed.max_wait)?;

    // Subscribe before the first read, so that a change committed between
    // the read and the wait still wakes this request.
    let mut changes = state.change_signal.clone();
    changes.mark_unchanged();
    let mut shutdown = state.shutdown.clone();
    let deadline = Instant::now() + wait;
    let batch = loop {
        let batch: ChangeBatch = state
            .store
            .read_changes(auth.directory, after, limit)
            .await?;
        if after > batch.head {
            return Err(Problem::BadRequest(format!(
                "cursor {after} is ahead of the change feed, which has reached {}: it was not \
                 issued by this server's current database. Resynchronise: list the users and \
                 groups, then follow the feed from the cursor that the listing returns",
                batch.head
            )));
        }
        if cursor_expired(after, batch.pruned_through) {
            return Err(Problem::Gone(expired_cursor_detail(
                after,
                state.feed.retention,
            )));
        }
        let now = Instant::now();
        if !batch.records.is_empty() || now >= deadline || *shutdown.borrow() {
            break batch;
        }
        let recheck = deadline.min(now + RECHECK_INTERVAL);
        // A closed channel (the server is stopping) falls back to the timer,
        // so that this loop never spins.
        tokio::select! {
            result = changes.changed() => {
                if result.is_err() {
                    tokio::time::sleep_until(recheck).await;
                }
            }
            result = shutdown.changed() => {
                if result.is_err() {
                    tokio::time::sleep_until(recheck).await;
                }
            }
            () = tokio::time::sleep_until(recheck) => {}
        }
    };

    let next_cursor = batch.records.last().map_or(after, |record| record.seq);
    let events: Vec<Value> = batch.records.iter().map(event_json).collect();
    Ok(Json(json!({
        "events": events,
        "next_cursor": format_cursor(next_cursor),
    })))
}
