//! Change records as the change feed reads them back.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::DirectoryId;

/// A stored change record.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeRecord {
    /// Position in the log; per directory, increasing in commit order.
    pub seq: i64,
    /// Directory the change belongs to.
    pub directory_id: DirectoryId,
    /// `User` or `Group` (the group, for member changes).
    pub resource_type: String,
    /// Id of that resource.
    pub resource_id: Uuid,
    /// Event type, such as `user.created`.
    pub kind: String,
    /// Time of the change.
    pub occurred_at: DateTime<Utc>,
    /// The stored description, see [`super::changes::Change::data`].
    pub data: Value,
}

/// Change records after a cursor, read in one snapshot together with the
/// retention state, so that a concurrent prune cannot hide a gap.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeBatch {
    /// Highest sequence number that pruning may have deleted; a cursor
    /// below it may have missed records.
    pub pruned_through: i64,
    /// Highest sequence number the log has reached, over all directories
    /// (or `pruned_through`, if larger); a cursor above it was never issued.
    pub head: i64,
    /// The records, in sequence order.
    pub records: Vec<ChangeRecord>,
}
