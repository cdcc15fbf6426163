//! Queries of the application API: filtered, keyset-paginated lists of users,
//! groups and group members.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Filters and page of `GET /api/v1/users`. Every filter that is set must
/// match; string comparisons ignore case except `external_id`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserListQuery {
    /// Only users whose `active` equals this.
    pub active: Option<bool>,
    /// Only users with this address among their `emails`.
    pub email: Option<String>,
    /// Only the user with this `userName`.
    pub user_name: Option<String>,
    /// Only users with this `externalId` (compared exactly).
    pub external_id: Option<String>,
    /// Only direct members of this group.
    pub group: Option<Uuid>,
    /// Only users changed at or after this time.
    pub updated_since: Option<DateTime<Utc>>,
    /// Keyset cursor: only users whose id sorts after this one.
    pub after: Option<Uuid>,
    /// Maximum number of users returned.
    pub limit: u32,
}

/// Filters and page of `GET /api/v1/groups`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupListQuery {
    /// Only the group with this `displayName` (ignoring case).
    pub name: Option<String>,
    /// Only groups with this `externalId`.
    pub external_id: Option<String>,
    /// Only groups changed at or after this time.
    pub updated_since: Option<DateTime<Utc>>,
    /// Keyset cursor: only groups whose id sorts after this one.
    pub after: Option<Uuid>,
    /// Maximum number of groups returned.
    pub limit: u32,
}

/// One member of a group, as the members page lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberEntry {
    /// Id of the member user or group.
    pub id: Uuid,
    /// `User` or `Group`.
    pub member_type: String,
    /// Display name (user display name, else user name; group name).
    pub display: Option<String>,
}
