//! The application API's normalised shapes of users and groups, built from
//! their SCIM representation. Applications use these without knowing SCIM;
//! the REST API, the change feed and webhooks all render resources here, so
//! that an event's `data` equals what `GET /api/v1/users/{id}` returns.

use serde_json::{json, Map, Value};

use crate::scim::render::{render_resource, ResourceMeta};
use crate::scim::schema::{ResourceKind, ENTERPRISE_USER};
use crate::store::{DirectoryId, StoredResource};

/// Renders a stored user as SCIM JSON without `meta.location` (which depends
/// on how the server is reached), with its groups.
pub fn scim_user(user: &StoredResource) -> Value {
    render_resource(
        &meta(ResourceKind::User, user),
        &user.attributes,
        None,
        user.groups.as_deref(),
        None,
    )
}

/// Renders a stored group as SCIM JSON without `meta.location` and members.
pub fn scim_group(group: &StoredResource) -> Value {
    render_resource(
        &meta(ResourceKind::Group, group),
        &group.attributes,
        None,
        None,
        None,
    )
}

fn meta(kind: ResourceKind, resource: &StoredResource) -> ResourceMeta {
    ResourceMeta {
        kind,
        id: resource.id.to_string(),
        created: resource.created,
        last_modified: resource.last_modified,
        version: resource.version,
    }
}

fn text(value: Option<&Value>) -> Value {
    value
        .and_then(Value::as_str)
        .map_or(Value::Null, |text| Value::String(text.to_owned()))
}

/// Picks the primary email: the `emails` element marked primary, else the
/// first one of type `work`. `userName` is never used, because identity
/// providers often put a login name there that is not a mailbox.
pub fn primary_email(scim: &Value) -> Option<String> {
    let emails = scim.get("emails")?.as_array()?;
    let address = |email: &Value| {
        email
            .get("value")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    emails
        .iter()
        .find(|email| email.get("primary").and_then(Value::as_bool) == Some(true))
        .and_then(address)
        .or_else(|| {
            emails
                .iter()
                .filter(|email| {
                    email
                        .get("type")
                        .and_then(Value::as_str)
                        .is_some_and(|kind| kind.eq_ignore_ascii_case("work"))
                })
                .find_map(address)
        })
}

/// Builds the application API shape of a user from its SCIM JSON (as
/// [`scim_user`] renders it, or as a change record stores it).
pub fn user_view(directory: DirectoryId, scim: &Value) -> Value {
    let empty = Value::Object(Map::new());
    let name = scim.get("name").unwrap_or(&empty);
    let enterprise = scim.get(ENTERPRISE_USER).unwrap_or(&empty);
    let meta = scim.get("meta").unwrap_or(&empty);
    let emails: Vec<Value> = scim
        .get("emails")
        .and_then(Value::as_array)
        .map(|emails| {
            emails
                .iter()
                .filter(|email| email.get("value").is_some_and(Value::is_string))
                .map(|email| {
                    json!({
                        "value": text(email.get("value")),
                        "type": text(email.get("type")),
                        "primary": email.get("primary").and_then(Value::as_bool).unwrap_or(false),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let groups: Vec<Value> = scim
        .get("groups")
        .and_then(Value::as_array)
        .map(|groups| {
            groups
                .iter()
                .map(|group| json!({"id": text(group.get("value")), "name": text(group.get("display"))}))
                .collect()
        })
        .unwrap_or_default();
    let manager_id = enterprise
        .get("manager")
        .and_then(|manager| manager.get("value"));

    let mut raw = scim.clone();
    if let Some(fields) = raw.as_object_mut() {
        fields.remove("groups");
    }
    json!({
        "id": text(scim.get("id")),
        "directory_id": directory.to_string(),
        "external_id": text(scim.get("externalId")),
        "user_name": text(scim.get("userName")),
        "primary_email": primary_email(scim),
        "emails": emails,
        "given_name": text(name.get("givenName")),
        "family_name": text(name.get("familyName")),
        "display_name": text(scim.get("displayName")),
        "active": scim.get("active").and_then(Value::as_bool).unwrap_or(true),
        "title": text(scim.get("title")),
        "department": text(enterprise.get("department")),
        "employee_number": text(enterprise.get("employeeNumber")),
        "cost_center": text(enterprise.get("costCenter")),
        "organization": text(enterprise.get("organization")),
        "division": text(enterprise.get("division")),
        "manager_id": text(manager_id),
        "groups": groups,
        "created_at": text(meta.get("created")),
        "updated_at": text(meta.get("lastModified")),
        "scim": raw,
    })
}

/// Builds the application API shape of a group from its SCIM JSON, without
/// members (list them with `GET /api/v1/groups/{id}/members`).
pub fn group_view(directory: DirectoryId, scim: &Value) -> Value {
    let empty = Value::Object(Map::new());
    let meta = scim.get("meta").unwrap_or(&empty);
    let mut raw = scim.clone();
    if let Some(fields) = raw.as_object_mut() {
        fields.remove("members");
    }
    json!({
        "id": text(scim.get("id")),
        "directory_id": directory.to_string(),
        "external_id": text(scim.get("externalId")),
        "name": text(scim.get("displayName")),
        "created_at": text(meta.get("created")),
        "updated_at": text(meta.get("lastModified")),
        "scim": raw,
    })
}

/// Names a member type as the application API does: `user` or `group`.
pub fn member_type_name(scim_type: &str) -> &'static str {
    if scim_type.eq_ignore_ascii_case("Group") {
        "group"
    } else {
        "user"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn primary_email_prefers_primary_flag() {
        let scim = json!({"userName": "ada", "emails": [
            {"value": "home@example.com", "type": "home"},
            {"value": "work@example.com", "type": "work"},
            {"value": "main@example.com", "type": "other", "primary": true},
        ]});
        assert_eq!(primary_email(&scim).as_deref(), Some("main@example.com"));
    }

    #[test]
    fn primary_email_falls_back_to_first_work() {
        let scim = json!({"emails": [
            {"value": "home@example.com", "type": "home"},
            {"value": "work1@example.com", "type": "Work"},
            {"value": "work2@example.com", "type": "work"},
        ]});
        assert_eq!(primary_email(&scim).as_deref(), Some("work1@example.com"));
    }

    #[test]
    fn primary_email_never_uses_user_name() {
        let scim = json!({"userName": "ada@example.com", "emails": [
            {"value": "home@example.com", "type": "home"},
        ]});
        assert_eq!(primary_email(&scim), None);
        assert_eq!(primary_email(&json!({"userName": "ada@example.com"})), None);
    }

    #[test]
    fn user_view_maps_enterprise_fields() {
        let directory = DirectoryId(Uuid::nil());
        let scim = json!({
            "id": "u1",
            "userName": "ada",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "title": "Engineer",
            ENTERPRISE_USER: {"department": "R&D", "employeeNumber": "7", "manager": {"value": "m1"}},
            "groups": [{"value": "g1", "display": "Staff"}],
            "meta": {"created": "2026-01-01T00:00:00.000Z", "lastModified": "2026-01-02T00:00:00.000Z"},
        });
        let view = user_view(directory, &scim);
        assert_eq!(view["given_name"], "Ada");
        assert_eq!(view["family_name"], "Lovelace");
        assert_eq!(view["title"], "Engineer");
        assert_eq!(view["department"], "R&D");
        assert_eq!(view["employee_number"], "7");
        assert_eq!(view["manager_id"], "m1");
        assert_eq!(view["active"], true);
        assert_eq!(view["primary_email"], Value::Null);
        assert_eq!(view["groups"], json!([{"id": "g1", "name": "Staff"}]));
        assert_eq!(view["updated_at"], "2026-01-02T00:00:00.000Z");
        assert_eq!(view["scim"].get("groups"), None);
    }
}
