//! Rendering stored resources as SCIM JSON (RFC 7643 §3.1 `id` and `meta`,
//! §4.1.2 `groups`, §4.2 `members`).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use super::resource::output_schemas;
use super::schema::ResourceKind;

/// A group member as rendered in `members`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberView {
    /// Member id.
    pub value: String,
    /// `User` or `Group`.
    pub member_type: String,
    /// The member's display name (user display name or user name, group name).
    pub display: Option<String>,
}

/// A group as rendered in a user's `groups`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupView {
    /// Group id.
    pub value: String,
    /// Group display name.
    pub display: String,
}

/// The server-maintained parts of a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceMeta {
    /// Resource type.
    pub kind: ResourceKind,
    /// Resource id.
    pub id: String,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Time of the last change.
    pub last_modified: DateTime<Utc>,
    /// Version counter, rendered as a weak entity tag.
    pub version: i64,
}

/// Formats a version counter as the weak entity tag used in `meta.version`
/// and the `ETag` header.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Formats a timestamp as an RFC 3339 `dateTime` in UTC with milliseconds.
pub fn format_time(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Builds the full SCIM representation of a resource.
///
/// `base_url` is the SCIM base (for example `https://host/scim/v2`); without
/// it `meta.location` and `$ref` are left out, which is how change records
/// store resources.
pub fn render_resource(
    meta: &ResourceMeta,
    attributes: &Value,
    members: Option<&[MemberView]>,
    groups: Option<&[GroupView]>,
    base_url: Option<&str>,
) -> Value {
    let mut out = Map::new();
    let schemas = output_schemas(meta.kind, attributes);
    out.insert("schemas".into(), Value::from(schemas));
    out.insert("id".into(), Value::String(meta.id.clone()));
    if let Value::Object(fields) = attributes {
        // Server-owned keys never come from stored attributes.
        let owned = ["schemas", "id", "meta", "members", "groups"];
        for (key, value) in fields {
            if !owned.iter().any(|name| key.eq_ignore_ascii_case(name)) {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    if let Some(members) = members {
        let rendered = members
            .iter()
            .map(|member| render_member(member, base_url))
            .collect::<Vec<_>>();
        out.insert("members".into(), Value::Array(rendered));
    }
    if let Some(groups) = groups {
        if !groups.is_empty() {
            let rendered = groups
                .iter()
                .map(|group| render_group_ref(group, base_url))
                .collect::<Vec<_>>();
            out.insert("groups".into(), Value::Array(rendered));
        }
    }
    out.insert("meta".into(), render_meta(meta, base_url));
    Value::Object(out)
}

fn render_member(member: &MemberView, base_url: Option<&str>) -> Value {
    let mut out = Map::new();
    out.insert("value".into(), Value::String(member.value.clone()));
    if let Some(display) = &member.display {
        out.insert("display".into(), Value::String(display.clone()));
    }
    out.insert("type".into(), Value::String(member.member_type.clone()));
    if let Some(base) = base_url {
        let endpoint = if member.member_type == "Group" {
            "Groups"
        } else {
            "Users"
        };
        out.insert(
            "$ref".into(),
            Value::String(format!("{base}/{endpoint}/{}", member.value)),
        );
    }
    Value::Object(out)
}

fn render_group_ref(group: &GroupView, base_url: Option<&str>) -> Value {
    let mut out = Map::new();
    out.insert("value".into(), Value::String(group.value.clone()));
    out.insert("display".into(), Value::String(group.display.clone()));
    out.insert("type".into(), Value::String("direct".into()));
    if let Some(base) = base_url {
        out.insert(
            "$ref".into(),
            Value::String(format!("{base}/Groups/{}", group.value)),
        );
    }
    Value::Object(out)
}

fn render_meta(meta: &ResourceMeta, base_url: Option<&str>) -> Value {
    let mut out = Map::new();
    out.insert(
        "resourceType".into(),
        Value::String(meta.kind.name().into()),
    );
    out.insert("created".into(), Value::String(format_time(&meta.created)));
    out.insert(
        "lastModified".into(),
        Value::String(format_time(&meta.last_modified)),
    );
    if let Some(base) = base_url {
        out.insert(
            "location".into(),
            Value::String(format!("{base}{}/{}", meta.kind.endpoint(), meta.id)),
        );
    }
    out.insert("version".into(), Value::String(etag(meta.version)));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(kind: ResourceKind) -> ResourceMeta {
        let time = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.678Z")
            .unwrap()
            .with_timezone(&Utc);
        ResourceMeta {
            kind,
            id: "u1".into(),
            created: time,
            last_modified: time,
            version: 3,
        }
    }

    #[test]
    fn render_user_meta_and_groups() {
        let attributes = json!({"userName": "ada@example.com", "active": true});
        let groups = [GroupView {
            value: "g1".into(),
            display: "Eng".into(),
        }];
        let out = render_resource(
            &meta(ResourceKind::User),
            &attributes,
            None,
            Some(&groups),
            Some("https://h/scim/v2"),
        );
        assert_eq!(
            out,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "id": "u1",
                "userName": "ada@example.com",
                "active": true,
                "groups": [{"value": "g1", "display": "Eng", "type": "direct", "$ref": "https://h/scim/v2/Groups/g1"}],
                "meta": {
                    "resourceType": "User",
                    "created": "2026-01-02T03:04:05.678Z",
                    "lastModified": "2026-01-02T03:04:05.678Z",
                    "location": "https://h/scim/v2/Users/u1",
                    "version": "W/\"3\""
                }
            })
        );
    }

    #[test]
    fn render_group_members_without_base() {
        let attributes = json!({"displayName": "Eng"});
        let members = [MemberView {
            value: "u1".into(),
            member_type: "User".into(),
            display: Some("Ada".into()),
        }];
        let out = render_resource(
            &meta(ResourceKind::Group),
            &attributes,
            Some(&members),
            None,
            None,
        );
        assert_eq!(
            out["members"],
            json!([{"value": "u1", "display": "Ada", "type": "User"}])
        );
        assert_eq!(out["meta"].get("location"), None);
    }

    #[test]
    fn render_user_omits_empty_groups() {
        let out = render_resource(&meta(ResourceKind::User), &json!({}), None, Some(&[]), None);
        assert_eq!(out.get("groups"), None);
    }
}
