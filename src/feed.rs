//! The change feed: events shaped from change records, cursors, and the
//! retention rule. Backend-independent; the store reads the records.
//!
//! A cursor is the sequence number of the last event a consumer has seen,
//! sent as a decimal string. Within a directory, sequence order is commit
//! order (see [`crate::store::Store::read_changes`]), so reading `seq >
//! cursor` never skips an event that commits later.

use std::time::Duration;

use serde_json::{json, Value};

use crate::scim::render::format_time;
use crate::store::feed::ChangeRecord;
use crate::view::{group_view, member_type_name, user_view};

/// Settings of the change feed.
#[derive(Clone, Copy, Debug)]
pub struct FeedSettings {
    /// How long change records are kept.
    pub retention: Duration,
    /// Maximum `wait` of a long-poll request.
    pub max_wait: Duration,
    /// How often the pruning task runs.
    pub prune_interval: Duration,
}

impl Default for FeedSettings {
    fn default() -> Self {
        FeedSettings {
            retention: Duration::from_secs(30 * 24 * 3600),
            max_wait: Duration::from_secs(25),
            prune_interval: Duration::from_secs(3600),
        }
    }
}

/// Default number of events in a page.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Maximum number of events in a page.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Formats a sequence number as a cursor.
pub fn format_cursor(seq: i64) -> String {
    seq.to_string()
}

/// Parses a cursor sent by a consumer.
pub fn parse_cursor(text: &str) -> Result<i64, String> {
    text.parse::<i64>()
        .ok()
        .filter(|seq| *seq >= 0)
        .ok_or_else(|| {
            format!(
                "invalid cursor '{text}': send the next_cursor value of a previous page, or a \
                 feed_cursor from a list response"
            )
        })
}

/// Returns whether events after `cursor` may have been pruned, so that
/// following the feed from it would miss some.
pub fn cursor_expired(cursor: i64, pruned_through: i64) -> bool {
    cursor < pruned_through
}

/// Builds the `detail` of the 410 response to an expired cursor.
pub fn expired_cursor_detail(cursor: i64, retention: Duration) -> String {
    let days = retention.as_secs() / 86_400;
    format!(
        "cursor {cursor} is older than the change feed's retention ({days} days), so events \
         after it may have been deleted. Resynchronise: list every user and group with \
         GET /api/v1/users and GET /api/v1/groups, keep the feed_cursor of the first list \
         page, and follow GET /api/v1/events?after=<that feed_cursor> from there"
    )
}

/// Builds the event object that the feed and webhooks send for a change
/// record: `id` (its cursor), `type`, `occurred_at`, `directory_id`,
/// `resource_type`, `resource_id` and `data`, plus `changed_attributes`
/// for updates.
pub fn event_json(record: &ChangeRecord) -> Value {
    let directory = record.directory_id;
    let resource = record.data.get("resource").unwrap_or(&Value::Null);
    let data = match record.kind.as_str() {
        "group.member_added" | "group.member_removed" => member_data(&record.data),
        _ if record.resource_type == "Group" => group_view(directory, resource),
        _ => user_view(directory, resource),
    };
    let mut event = json!({
        "id": format_cursor(record.seq),
        "type": record.kind,
        "occurred_at": format_time(&record.occurred_at),
        "directory_id": directory.to_string(),
        "resource_type": record.resource_type.to_lowercase(),
        "resource_id": record.resource_id.to_string(),
        "data": data,
    });
    if let Some(changed) = record.data.get("changedAttributes") {
        event["changed_attributes"] = changed.clone();
    }
    event
}

fn member_data(stored: &Value) -> Value {
    let group = &stored["group"];
    let member = &stored["member"];
    let member_type = member["type"].as_str().unwrap_or("User");
    json!({
        "group": {"id": group["id"], "name": group["displayName"]},
        "member": {"id": member["value"], "type": member_type_name(member_type)},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DirectoryId;
    use chrono::{TimeZone, Utc};
    use uuid::Uuid;

    fn record(kind: &str, resource_type: &str, data: Value) -> ChangeRecord {
        ChangeRecord {
            seq: 42,
            directory_id: DirectoryId(Uuid::nil()),
            resource_type: resource_type.into(),
            resource_id: Uuid::nil(),
            kind: kind.into(),
            occurred_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            data,
        }
    }

    #[test]
    fn cursor_round_trip() {
        assert_eq!(parse_cursor(&format_cursor(17)), Ok(17));
        assert!(parse_cursor("-1").is_err());
        assert!(parse_cursor("abc").unwrap_err().contains("'abc'"));
    }

    #[test]
    fn expiry_boundary() {
        assert!(!cursor_expired(10, 10));
        assert!(cursor_expired(9, 10));
    }

    #[test]
    fn update_event_carries_changed_attributes() {
        let data =
            json!({"resource": {"id": "u1", "userName": "ada"}, "changedAttributes": ["title"]});
        let event = event_json(&record("user.updated", "User", data));
        assert_eq!(event["id"], "42");
        assert_eq!(event["type"], "user.updated");
        assert_eq!(event["occurred_at"], "2026-01-02T03:04:05.000Z");
        assert_eq!(event["resource_type"], "user");
        assert_eq!(event["data"]["user_name"], "ada");
        assert_eq!(event["changed_attributes"], json!(["title"]));
    }

    #[test]
    fn member_event_names_group_and_member() {
        let data = json!({
            "group": {"id": "g1", "displayName": "Staff"},
            "member": {"value": "u1", "type": "User"},
        });
        let event = event_json(&record("group.member_added", "Group", data));
        assert_eq!(
            event["data"],
            json!({"group": {"id": "g1", "name": "Staff"}, "member": {"id": "u1", "type": "user"}})
        );
        assert_eq!(event.get("changed_attributes"), None);
    }
}
