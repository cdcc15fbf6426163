//! The `attributes` and `excludedAttributes` parameters (RFC 7644 §3.4.2.5,
//! §3.9), applied according to each attribute's `returned` characteristic
//! (RFC 7643 §2.4).

use serde_json::{Map, Value};

use super::error::ScimError;
use super::path::{resolve, ResolvedPath};
use super::schema::{find_schema, ResourceKind, Returned};

/// Attribute selection for a response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Projection {
    /// `attributes`: only these (plus those returned always).
    include: Vec<ResolvedPath>,
    /// `excludedAttributes`: all but these (except those returned always).
    exclude: Vec<ResolvedPath>,
}

fn parse_list(kind: ResourceKind, list: Option<&str>) -> Result<Vec<ResolvedPath>, ScimError> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            if let Some(schema) =
                find_schema(kind, name).filter(|schema| schema.id != kind.core_urn())
            {
                // The whole extension, such as the enterprise URN alone.
                return Ok(ResolvedPath {
                    urn: schema.id.to_owned(),
                    extension: true,
                    attr: String::new(),
                    sub_attr: None,
                    def: None,
                    sub_def: None,
                });
            }
            resolve(kind, name).map_err(|err| {
                ScimError::invalid_value(format!("invalid attribute name '{name}': {}", err.detail))
            })
        })
        .collect()
}

impl Projection {
    /// Parses the two comma-separated parameters; giving both is an error.
    pub fn parse(
        kind: ResourceKind,
        attributes: Option<&str>,
        excluded_attributes: Option<&str>,
    ) -> Result<Self, ScimError> {
        let include = parse_list(kind, attributes)?;
        let exclude = parse_list(kind, excluded_attributes)?;
        if !include.is_empty() && !exclude.is_empty() {
            return Err(ScimError::invalid_value(
                "'attributes' and 'excludedAttributes' cannot be used together",
            ));
        }
        Ok(Projection { include, exclude })
    }

    /// Whether the top-level core attribute `name` (such as `members` or
    /// `groups`) appears in the response, so whether it must be loaded.
    pub fn wants(&self, name: &str) -> bool {
        let matches = |path: &ResolvedPath| !path.extension && path.attr.eq_ignore_ascii_case(name);
        if !self.include.is_empty() {
            return self.include.iter().any(matches);
        }
        !self
            .exclude
            .iter()
            .any(|path| matches(path) && path.sub_attr.is_none())
    }

    /// Returns true when neither parameter was given.
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// Applies the projection to a rendered resource.
    pub fn apply(&self, kind: ResourceKind, resource: &mut Value) {
        let Value::Object(fields) = resource else {
            return;
        };
        if !self.include.is_empty() {
            let mut kept = Map::new();
            for (key, value) in std::mem::take(fields) {
                if let Some(value) = self.select(kind, &key, value) {
                    kept.insert(key, value);
                }
            }
            *fields = kept;
        } else {
            for path in &self.exclude {
                if path.extension || !path.attr.eq_ignore_ascii_case("schemas") {
                    remove_path(fields, path);
                }
            }
        }
    }

    /// Returns what remains of top-level `key` under `attributes`.
    fn select(&self, kind: ResourceKind, key: &str, value: Value) -> Option<Value> {
        if key == "schemas" || key == "id" || always_returned(kind, key) {
            return Some(value);
        }
        if is_extension_key(key) {
            let Value::Object(extension) = value else {
                return None;
            };
            let wanted: Vec<&ResolvedPath> = self
                .include
                .iter()
                .filter(|path| path.extension && path.urn.eq_ignore_ascii_case(key))
                .collect();
            if wanted.is_empty() {
                return None;
            }
            let mut kept = Map::new();
            for (name, inner) in extension {
                let selected = wanted
                    .iter()
                    .any(|path| path.attr.is_empty() || path.attr == name);
                if selected {
                    kept.insert(name, inner);
                }
            }
            return (!kept.is_empty()).then_some(Value::Object(kept));
        }
        let wanted: Vec<&ResolvedPath> = self
            .include
            .iter()
            .filter(|path| !path.extension && path.attr == key)
            .collect();
        if wanted.is_empty() {
            return None;
        }
        if wanted.iter().any(|path| path.sub_attr.is_none()) {
            return Some(value);
        }
        let subs: Vec<&str> = wanted
            .iter()
            .filter_map(|path| path.sub_attr.as_deref())
            .collect();
        Some(keep_sub_attributes(value, &subs))
    }
}

fn is_extension_key(key: &str) -> bool {
    key.len() > 4 && key[..4].eq_ignore_ascii_case("urn:")
}

fn always_returned(kind: ResourceKind, key: &str) -> bool {
    resolve(kind, key)
        .ok()
        .and_then(|path| path.def)
        .is_some_and(|def| def.returned == Returned::Always)
}

/// Keeps only the named sub-attributes of a complex value or of each element
/// of a multi-valued one.
fn keep_sub_attributes(value: Value, subs: &[&str]) -> Value {
    match value {
        Value::Object(fields) => {
            let kept: Map<String, Value> = fields
                .into_iter()
                .filter(|(name, _)| subs.contains(&name.as_str()))
                .collect();
            Value::Object(kept)
        }
        Value::Array(elements) => Value::Array(
            elements
                .into_iter()
                .map(|element| keep_sub_attributes(element, subs))
                .collect(),
        ),
        other => other,
    }
}

fn remove_path(fields: &mut Map<String, Value>, path: &ResolvedPath) {
    if path
        .target_def()
        .is_some_and(|def| def.returned == Returned::Always)
    {
        return;
    }
    let container = if path.extension {
        let Some(key) = fields
            .keys()
            .find(|key| key.eq_ignore_ascii_case(&path.urn))
            .cloned()
        else {
            return;
        };
        if path.attr.is_empty() {
            fields.remove(&key);
            return;
        }
        match fields.get_mut(&key) {
            Some(Value::Object(extension)) => extension,
            _ => return,
        }
    } else {
        fields
    };
    match &path.sub_attr {
        None => {
            container.remove(&path.attr);
        }
        Some(sub) => match container.get_mut(&path.attr) {
            Some(Value::Object(complex)) => {
                complex.remove(sub);
            }
            Some(Value::Array(elements)) => {
                for element in elements {
                    if let Value::Object(complex) = element {
                        complex.remove(sub);
                    }
                }
            }
            _ => {}
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "1",
            "userName": "ada",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "a@example.com", "type": "work"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R", "costCenter": "7"},
            "meta": {"resourceType": "User"}
        })
    }

    #[test]
    fn attributes_keep_listed_and_always() {
        let projection =
            Projection::parse(ResourceKind::User, Some("userName,name.givenName"), None).unwrap();
        let mut resource = user();
        projection.apply(ResourceKind::User, &mut resource);
        assert_eq!(
            resource,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "id": "1",
                "userName": "ada",
                "name": {"givenName": "Ada"}
            })
        );
    }

    #[test]
    fn attributes_select_extension_attribute() {
        let projection = Projection::parse(
            ResourceKind::User,
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
            None,
        )
        .unwrap();
        let mut resource = user();
        projection.apply(ResourceKind::User, &mut resource);
        assert_eq!(
            resource["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            json!({"department": "R"})
        );
        assert_eq!(resource.get("userName"), None);
    }

    #[test]
    fn excluded_removes_attribute_and_sub_attribute() {
        let projection =
            Projection::parse(ResourceKind::User, None, Some("emails,name.familyName,id")).unwrap();
        let mut resource = user();
        projection.apply(ResourceKind::User, &mut resource);
        assert_eq!(resource.get("emails"), None);
        assert_eq!(resource["name"], json!({"givenName": "Ada"}));
        assert_eq!(resource["id"], json!("1"), "id is returned always");
    }

    #[test]
    fn wants_members_follows_parameters() {
        let none = Projection::parse(ResourceKind::Group, None, None).unwrap();
        assert!(none.wants("members"));
        let excluded = Projection::parse(ResourceKind::Group, None, Some("members")).unwrap();
        assert!(!excluded.wants("members"));
        let only_name = Projection::parse(ResourceKind::Group, Some("displayName"), None).unwrap();
        assert!(!only_name.wants("members"));
        let with_members =
            Projection::parse(ResourceKind::Group, Some("Members.value"), None).unwrap();
        assert!(with_members.wants("members"));
    }

    #[test]
    fn both_parameters_rejected() {
        let err =
            Projection::parse(ResourceKind::User, Some("userName"), Some("emails")).unwrap_err();
        assert_eq!(err.status, 400);
    }
}
