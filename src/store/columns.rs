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
    /// `active`; a user without the attribute counts as active in the
    /// application API and change records, while SCIM filters read the
    /// stored attribute as sent.
    pub active: bool,
    /// Every `emails` element (an object), with `""` for a missing value.
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

/// Maximum length in bytes of a value copied into an indexed column. A
/// PostgreSQL b-tree entry must fit in about 2.7 KB, and real user names,
/// external ids, display names and addresses are far shorter.
pub const MAX_INDEXED_BYTES: usize = 1024;

/// Fails when `value` of `attribute` is too long to index.
fn check_length(attribute: &str, value: Option<&str>) -> Result<(), ScimError> {
    match value {
        Some(text) if text.len() > MAX_INDEXED_BYTES => Err(ScimError::invalid_value(format!(
            "attribute '{attribute}' is {} bytes long; the maximum is {MAX_INDEXED_BYTES}",
            text.len()
        ))),
        _ => Ok(()),
    }
}

fn string_field(resource: &Value, name: &str) -> Option<String> {
    resource
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Prepares a user's attributes for storage. Removes `password`, which
/// scimgate accepts (it is write-only) but never stores, returns or logs.
pub fn prepare_user_attributes(resource: &mut Value) {
    if let Value::Object(fields) = resource {
        fields.retain(|key, _| !key.eq_ignore_ascii_case("password"));
    }
}

/// Derives a user's columns; fails if `userName` is missing.
pub fn user_columns(resource: &Value) -> Result<UserColumns, ScimError> {
    let user_name = string_field(resource, "userName")
        .filter(|name| !name.trim().is_empty())
        .ok_or_else(|| ScimError::invalid_value("attribute 'userName' is required"))?;
    let emails: Vec<EmailColumns> = resource
        .get("emails")
        .and_then(Value::as_array)
        .map(|elements| {
            elements
                .iter()
                .filter_map(|element| {
                    element.as_object()?;
                    // An element without a value still matches filters on
                    // its type or primary flag; its value is stored as "".
                    let value = string_field(element, "value").unwrap_or_default();
                    Some(EmailColumns {
                        value,
                        email_type: string_field(element, "type"),
                        primary: element.get("primary").and_then(Value::as_bool) == Some(true),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let external_id = string_field(resource, "externalId");
    let display_name = string_field(resource, "displayName");
    check_length("userName", Some(&user_name))?;
    check_length("externalId", external_id.as_deref())?;
    check_length("displayName", display_name.as_deref())?;
    for email in &emails {
        check_length("emails.value", Some(&email.value))?;
        check_length("emails.type", email.email_type.as_deref())?;
    }
    Ok(UserColumns {
        user_name,
        external_id,
        display_name,
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
    let external_id = string_field(resource, "externalId");
    check_length("displayName", Some(&display_name))?;
    check_length("externalId", external_id.as_deref())?;
    Ok(GroupColumns {
        display_name,
        external_id,
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
            vec![
                EmailColumns {
                    value: "a@example.com".into(),
                    email_type: Some("work".into()),
                    primary: true
                },
                EmailColumns {
                    value: String::new(),
                    email_type: Some("home".into()),
                    primary: false
                }
            ]
        );
    }

    #[test]
    fn long_indexed_values_rejected() {
        let long = "x".repeat(MAX_INDEXED_BYTES + 1);
        for resource in [
            json!({"userName": long}),
            json!({"userName": "a", "externalId": long}),
            json!({"userName": "a", "emails": [{"value": long}]}),
        ] {
            let err = user_columns(&resource).unwrap_err();
            assert_eq!(err.status, 400, "{resource}");
        }
        let err = group_columns(&json!({"displayName": long})).unwrap_err();
        assert!(err.detail.contains("displayName"), "{}", err.detail);
    }

    #[test]
    fn prepare_drops_password() {
        let mut resource = json!({"userName": "a", "PassWord": "secret"});
        prepare_user_attributes(&mut resource);
        assert_eq!(resource, json!({"userName": "a"}));
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
