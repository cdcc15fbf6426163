//! The export format of one directory, used by `scimgate export` and
//! `scimgate import` to move a directory between stores, for example from
//! SQLite to PostgreSQL.
//!
//! What moves:
//! - every user and group with its id, attributes, version and timestamps,
//! - every membership with the time it was added,
//! - every change record with its kind, time and data, in sequence order.
//!
//! What does not move:
//! - tokens (create new ones in the target),
//! - the directory's id (the target keeps or creates its own),
//! - the changes' sequence numbers (the target numbers them in the same
//!   order, after its own).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::StoreError;
use crate::scim::error::ScimError;

/// Value of [`DirectoryExport::format`] for this version of the format.
pub const EXPORT_FORMAT: &str = "scimgate-directory-v1";

/// Everything stored for one directory, except its tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryExport {
    /// Format name and version, [`EXPORT_FORMAT`].
    pub format: String,
    /// Name of the exported directory.
    pub directory: String,
    /// Users, in creation order.
    pub users: Vec<ExportedResource>,
    /// Groups, in creation order.
    pub groups: Vec<ExportedGroup>,
    /// Change records, in sequence order.
    pub changes: Vec<ExportedChange>,
}

/// A user or a group without its members.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedResource {
    /// Resource id.
    pub id: Uuid,
    /// Stored SCIM attributes, as in [`super::StoredResource::attributes`].
    pub attributes: Value,
    /// Version counter.
    pub version: i64,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Time of the last effective change.
    pub last_modified: DateTime<Utc>,
}

/// A group with its members.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedGroup {
    /// The group itself.
    #[serde(flatten)]
    pub resource: ExportedResource,
    /// Members, in the order they joined.
    pub members: Vec<ExportedMember>,
}

/// One membership of a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedMember {
    /// Id of the member, a user or group of the same export.
    pub value: Uuid,
    /// `User` or `Group`.
    #[serde(rename = "type")]
    pub member_type: String,
    /// Time the member joined.
    pub added: DateTime<Utc>,
    /// The display name the client sent with the member, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// One change record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedChange {
    /// `User` or `Group`.
    pub resource_type: String,
    /// Id of the resource the change is about.
    pub resource_id: Uuid,
    /// Change kind, such as `user.created`.
    pub kind: String,
    /// Time of the change.
    pub occurred: DateTime<Utc>,
    /// The record's data, as written at the time.
    pub data: Value,
}

impl DirectoryExport {
    /// Checks what the database cannot check before an import writes
    /// anything: the format name, unique ids, and members that name a user
    /// or group of the export with the right type.
    pub fn validate(&self) -> Result<(), StoreError> {
        let invalid = |message: String| StoreError::Invalid(ScimError::invalid_value(message));
        if self.format != EXPORT_FORMAT {
            return Err(invalid(format!(
                "unsupported export format '{}': this scimgate reads '{EXPORT_FORMAT}'",
                self.format
            )));
        }
        let mut types: HashMap<Uuid, &str> = HashMap::new();
        let resources = self
            .users
            .iter()
            .map(|user| (user, "User"))
            .chain(self.groups.iter().map(|group| (&group.resource, "Group")));
        for (resource, resource_type) in resources {
            if types.insert(resource.id, resource_type).is_some() {
                return Err(invalid(format!(
                    "resource id {} appears twice in the export",
                    resource.id
                )));
            }
        }
        for group in &self.groups {
            for member in &group.members {
                match types.get(&member.value) {
                    Some(found) if *found == member.member_type => {}
                    Some(found) => {
                        return Err(invalid(format!(
                            "member {} of group {} has type '{}' but is a {found}",
                            member.value, group.resource.id, member.member_type
                        )))
                    }
                    None => {
                        return Err(invalid(format!(
                            "member {} of group {} is not a user or group of the export",
                            member.value, group.resource.id
                        )))
                    }
                }
            }
        }
        Ok(())
    }
}

/// Builds the error for an import into a directory that already contains data.
pub fn not_empty(name: &str) -> StoreError {
    StoreError::Conflict(format!(
        "directory '{name}' already contains users, groups or change records: import into a new or empty directory"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resource(id: Uuid) -> ExportedResource {
        let at = Utc::now();
        ExportedResource {
            id,
            attributes: json!({"displayName": "x"}),
            version: 1,
            created: at,
            last_modified: at,
        }
    }

    fn export_with_member(member: ExportedMember) -> DirectoryExport {
        let user = Uuid::now_v7();
        DirectoryExport {
            format: EXPORT_FORMAT.to_owned(),
            directory: "default".to_owned(),
            users: vec![resource(user)],
            groups: vec![ExportedGroup {
                resource: resource(Uuid::now_v7()),
                members: vec![ExportedMember {
                    value: if member.value.is_nil() {
                        user
                    } else {
                        member.value
                    },
                    ..member
                }],
            }],
            changes: Vec::new(),
        }
    }

    fn member(value: Uuid, member_type: &str) -> ExportedMember {
        ExportedMember {
            value,
            member_type: member_type.to_owned(),
            added: Utc::now(),
            display: None,
        }
    }

    #[test]
    fn valid_export_passes() {
        assert!(export_with_member(member(Uuid::nil(), "User"))
            .validate()
            .is_ok());
    }

    #[test]
    fn unknown_member_is_invalid() {
        let err = export_with_member(member(Uuid::now_v7(), "User"))
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("not a user or group"), "{err}");
    }

    #[test]
    fn wrong_member_type_is_invalid() {
        let err = export_with_member(member(Uuid::nil(), "Group"))
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("is a User"), "{err}");
    }

    #[test]
    fn other_format_is_invalid() {
        let mut export = export_with_member(member(Uuid::nil(), "User"));
        export.format = "something-else".to_owned();
        let err = export.validate().unwrap_err();
        assert!(err.to_string().contains(EXPORT_FORMAT), "{err}");
    }
}
