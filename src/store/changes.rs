//! Change records: one per mutation, written in the transaction that makes
//! the mutation. The application-facing change feed reads them.

use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::scim::schema::ResourceKind;

/// Kind of change to a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// A user was created.
    UserCreated,
    /// A user's attributes changed, `active` unchanged.
    UserUpdated,
    /// A user's `active` went from true to false.
    UserDeactivated,
    /// A user's `active` went from false to true.
    UserReactivated,
    /// A user was deleted.
    UserDeleted,
    /// A group was created.
    GroupCreated,
    /// A group's attributes (such as its name) changed.
    GroupUpdated,
    /// A group was deleted.
    GroupDeleted,
    /// A member joined a group.
    MemberAdded,
    /// A member left a group.
    MemberRemoved,
}

impl ChangeKind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [ChangeKind; 10] = [
        ChangeKind::UserCreated,
        ChangeKind::UserUpdated,
        ChangeKind::UserDeactivated,
        ChangeKind::UserReactivated,
        ChangeKind::UserDeleted,
        ChangeKind::GroupCreated,
        ChangeKind::GroupUpdated,
        ChangeKind::GroupDeleted,
        ChangeKind::MemberAdded,
        ChangeKind::MemberRemoved,
    ];

    /// Name stored in `changes.kind`, which is also the event type.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::UserCreated => "user.created",
            ChangeKind::UserUpdated => "user.updated",
            ChangeKind::UserDeactivated => "user.deactivated",
            ChangeKind::UserReactivated => "user.reactivated",
            ChangeKind::UserDeleted => "user.deleted",
            ChangeKind::GroupCreated => "group.created",
            ChangeKind::GroupUpdated => "group.updated",
            ChangeKind::GroupDeleted => "group.deleted",
            ChangeKind::MemberAdded => "group.member_added",
            ChangeKind::MemberRemoved => "group.member_removed",
        }
    }
}

/// A change record before it is written.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// Type of the resource the change is about (the group, for member changes).
    pub resource_type: ResourceKind,
    /// Id of that resource.
    pub resource_id: Uuid,
    /// What happened.
    pub kind: ChangeKind,
    /// Description: the resource after the change (before, for deletions),
    /// plus `changedAttributes` for updates and `member` for member changes.
    pub data: Value,
}

/// Classifies a user update by how `active` moved.
pub fn user_update_kind(before: &Value, after: &Value) -> ChangeKind {
    let active = |resource: &Value| {
        resource
            .get("active")
            .and_then(Value::as_bool)
            .unwrap_or(true)
    };
    match (active(before), active(after)) {
        (true, false) => ChangeKind::UserDeactivated,
        (false, true) => ChangeKind::UserReactivated,
        _ => ChangeKind::UserUpdated,
    }
}

/// Names of the top-level attributes that differ between two versions of a
/// resource, in a stable order.
pub fn changed_attributes(before: &Value, after: &Value) -> Vec<String> {
    let empty = Map::new();
    let before = before.as_object().unwrap_or(&empty);
    let after = after.as_object().unwrap_or(&empty);
    let mut names: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|key| before.get(*key) != after.get(*key))
        .cloned()
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Describes an update: the new state and the changed attribute names.
pub fn update_data(resource: Value, changed: Vec<String>) -> Value {
    json!({ "resource": resource, "changedAttributes": changed })
}

/// Describes a created or deleted resource.
pub fn resource_data(resource: Value) -> Value {
    json!({ "resource": resource })
}

/// Describes a membership change of group `group_id`.
pub fn member_data(group_id: Uuid, group_name: &str, member_id: Uuid, member_type: &str) -> Value {
    json!({
        "group": { "id": group_id.to_string(), "displayName": group_name },
        "member": { "value": member_id.to_string(), "type": member_type },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_kind_follows_active() {
        let on = json!({"active": true});
        let off = json!({"active": false});
        assert_eq!(user_update_kind(&on, &off), ChangeKind::UserDeactivated);
        assert_eq!(user_update_kind(&off, &on), ChangeKind::UserReactivated);
        assert_eq!(user_update_kind(&on, &on), ChangeKind::UserUpdated);
        assert_eq!(
            user_update_kind(&json!({}), &off),
            ChangeKind::UserDeactivated
        );
    }

    #[test]
    fn changed_attributes_lists_added_removed_and_changed() {
        let before = json!({"a": 1, "b": 2, "c": 3});
        let after = json!({"a": 1, "b": 5, "d": 4});
        assert_eq!(changed_attributes(&before, &after), vec!["b", "c", "d"]);
    }
}
