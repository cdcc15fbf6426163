//! Indexed columns derived from a normalised resource. Both backends store
//! the full resource as JSON and copy these values into columns (and the
//! `user_emails` table) so that lookups use an index.

use serde_json::Value;

use crate::scim::error::ScimError;

/// The indexed columns of a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserColumns {
    /// `userName`, unique per directory ignoring case.
    pub user_name: String,
    /// `externalId`.
    pub external_id: Option<String>,
    /// `displayName`.
    pub display_name: Option<String>,
    /// `active`; a user without the attribute counts as active.
    pub active: bool,
    /// Every `emails` element that has a string `value`.
    pub emails: Vec<EmailColumns>,
}

/// One `emails` element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailColumns {
    /// `emails.value`.
    pub value: String,
    /// `emails.type`.
    pub email_type: Option<String>,
    /// `emails.primary`.
    pub primary: bool,
}

/// The indexed columns of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupColumns {
    /// `displayName`, unique per directory ignoring case.
    pub display_name: String,
    /// `externalId`.
    pub external_id: Option<String>,
}

fn string_field(resource: &Value, name: &str) -> Option<String> {
    resource
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Removes `password`: scimgate accepts it (it is write-only) but never
/// stores, returns or logs it.
pub fn strip_password(resource: &mut Value) {
    if let Value::Object(fields) = resource {
        fields.retain(|key, _| !key.eq_ignore_ascii_case("password"));
    }
}

/// Derives a user's columns; fails if `userName` is missing.
pub fn user_columns(resource: &Value) -> Result<UserColumns, ScimError> {
    let user_name = string_field(resource, "userName")
        .filter(|name| !name.trim().is_empty())
        .ok_or_else(|| ScimError::invalid_value("attribute 'userName' is required"))?;
    let emails = resource
        .get("emails")
        .and_then(Value::as_array)
        .map(|elements| {
            elements
                .iter()
                .filter_map(|element| {
                    let value = element.get("value")?.as_str()?.to_owned();
                    Some(EmailColumns {
                        value,
                        email_type: string_field(element, "type"),
                        primary: element.get("primary").and_then(Value::as_bool) == Some(true),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(UserColumns {
        user_name,
        external_id: string_field(resource, "externalId"),
        display_name: string_field(resource, "displayName"),
        active: resource
            .get("active")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        emails,
    })
}

/// Derives a group's columns; fails if `displayName` is missing.
pub fn group_columns(resource: &Value) -> Result<GroupColumns, ScimError> {
    let display_name = string_field(resource, "displayName")
        .filter(|name| !name.trim().is_empty())
        .ok_or_else(|| ScimError::invalid_value("attribute 'displayName' is required"))?;
    Ok(GroupColumns {
        display_name,
        external_id: string_field(resource, "externalId"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_columns_from_resource() {
        let resource = json!({
            "userName": "Ada@Example.com",
            "externalId": "x1",
            "active": false,
            "emails": [{"value": "a@example.com", "type": "work", "primary": true}, {"type": "home"}]
        });
        let columns = user_columns(&resource).unwrap();
        assert_eq!(columns.user_name, "Ada@Example.com");
        assert_eq!(columns.external_id.as_deref(), Some("x1"));
        assert!(!columns.active);
        assert_eq!(
            columns.emails,
            vec![EmailColumns {
                value: "a@example.com".into(),
                email_type: Some("work".into()),
                primary: true
            }]
        );
    }

    #[test]
    fn user_without_active_is_active() {
        let columns = user_columns(&json!({"userName": "a"})).unwrap();
        assert!(columns.active);
    }

    #[test]
    fn user_without_user_name_fails() {
        let err = user_columns(&json!({"userName": " "})).unwrap_err();
        assert_eq!(err.status, 400);
        assert!(err.detail.contains("userName"));
    }
}
