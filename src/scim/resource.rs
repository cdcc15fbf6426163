//! Normalisation of User and Group bodies from POST and PUT, also used for
//! PATCH values.
//!
//! The output is canonical JSON: modelled attribute names in their schema
//! spelling, extension attributes inside their extension object, values
//! checked against their attribute type, read-only attributes and `schemas`
//! removed. Attributes the server does not model are kept as sent, so they
//! round-trip to the client.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::patch::{parse_member, MemberRef};
use super::path::{self, ResolvedPath};
use super::schema::{self, AttrType, AttributeDef, ResourceKind, ENTERPRISE_USER};

/// Returns "a string", "an object" and so on for error messages.
pub(crate) fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Normalises the value of the attribute `def`, named `path_text` in errors.
///
/// Returns `None` when the value means "absent": `null`, `[]`, or a complex
/// value left with no sub-attributes. A multi-valued attribute given a
/// single value gets a one-element array. Errors are `invalidValue`.
pub(crate) fn normalize_value(
    def: &AttributeDef,
    path_text: &str,
    value: Value,
) -> Result<Option<Value>, ScimError> {
    if def.multi_valued {
        let items = match value {
            Value::Null => return Ok(None),
            Value::Array(items) => items,
            single @ Value::Object(_) if def.attr_type == AttrType::Complex => vec![single],
            single if def.attr_type != AttrType::Complex => vec![single],
            other => {
                return Err(ScimError::invalid_value(format!(
                    "attribute '{path_text}' must be an array, got {}",
                    json_type_name(&other)
                )))
            }
        };
        let mut normalized = Vec::with_capacity(items.len());
        for item in items {
            if let Some(element) = normalize_element(def, path_text, item)? {
                normalized.push(element);
            }
        }
        return Ok((!normalized.is_empty()).then_some(Value::Array(normalized)));
    }

    match value {
        Value::Array(items) if items.is_empty() => Ok(None),
        Value::Array(_) => Err(ScimError::invalid_value(format!(
            "attribute '{path_text}' is single-valued, got an array"
        ))),
        single => normalize_element(def, path_text, single),
    }
}

/// Normalises one value of `def`: the whole value of a single-valued
/// attribute or one element of a multi-valued one.
pub(crate) fn normalize_element(
    def: &AttributeDef,
    path_text: &str,
    value: Value,
) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    let mismatch = |expected: &str, value: &Value| {
        let subject = if def.multi_valued {
            format!("each value of attribute '{path_text}'")
        } else {
            format!("attribute '{path_text}'")
        };
        ScimError::invalid_value(format!(
            "{subject} must be {expected}, got {}",
            json_type_name(value)
        ))
    };

    match def.attr_type {
        AttrType::Complex => match value {
            Value::Object(object) => normalize_complex(def, path_text, object),
            // A bare id for a single-valued reference, e.g. the enterprise
            // `manager` as Entra ID sends it.
            Value::String(id)
                if !def.multi_valued && schema::find_sub_attribute(def, "value").is_some() =>
            {
                let mut object = Map::new();
                object.insert("value".into(), Value::String(id));
                Ok(Some(Value::Object(object)))
            }
            other => Err(mismatch("an object", &other)),
        },
        AttrType::String | AttrType::Reference | AttrType::Binary => match value {
            Value::String(_) => Ok(Some(value)),
            other => Err(mismatch("a string", &other)),
        },
        AttrType::Boolean => match &value {
            Value::Bool(_) => Ok(Some(value)),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(Value::Bool(true))),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(Value::Bool(false))),
            other => Err(mismatch("true or false", other)),
        },
        AttrType::Integer if value.is_i64() || value.is_u64() => Ok(Some(value)),
        AttrType::Integer => Err(mismatch("an integer", &value)),
        AttrType::Decimal if value.is_number() => Ok(Some(value)),
        AttrType::Decimal => Err(mismatch("a number", &value)),
        AttrType::DateTime => match &value {
            Value::String(text) => match chrono::DateTime::parse_from_rfc3339(text) {
                Ok(_) => Ok(Some(value)),
                Err(e) => Err(ScimError::invalid_value(format!(
                    "attribute '{path_text}' must be an RFC 3339 timestamp such as \
                     \"2024-01-31T12:00:00Z\", got \"{text}\" ({e})"
                ))),
            },
            other => Err(mismatch("an RFC 3339 timestamp string", other)),
        },
    }
}

/// Canonicalises the sub-attribute names of a complex value. Read-only
/// sub-attributes and nulls are dropped; unknown sub-attributes are kept.
fn normalize_complex(
    def: &AttributeDef,
    path_text: &str,
    object: Map<String, Value>,
) -> Result<Option<Value>, ScimError> {
    let mut normalized = Map::new();
    for (key, value) in object {
        match schema::find_sub_attribute(def, &key) {
            Some(sub) if sub.is_read_only() => {}
            Some(sub) => {
                let sub_path_text = format!("{path_text}.{}", sub.name);
                match normalize_value(sub, &sub_path_text, value)? {
                    Some(v) => {
                        normalized.insert(sub.name.to_owned(), v);
                    }
                    None => {
                        normalized.remove(sub.name);
                    }
                }
            }
            None if value.is_null() => {}
            None => {
                normalized.insert(key, value);
            }
        }
    }
    Ok((!normalized.is_empty()).then_some(Value::Object(normalized)))
}

/// Normalises the `members` of a group: each element needs a string
/// `value`, and `type`, if present, becomes "User" or "Group".
fn normalize_members(value: Value) -> Result<Option<Value>, ScimError> {
    let items = match value {
        Value::Null => return Ok(None),
        Value::Array(items) => items,
        single @ Value::Object(_) => vec![single],
        other => {
            return Err(ScimError::invalid_value(format!(
                "attribute 'members' must be an array, got {}",
                json_type_name(&other)
            )))
        }
    };
    let mut members = Vec::with_capacity(items.len());
    for item in &items {
        let member = parse_member(item)?;
        let reference = item
            .as_object()
            .and_then(|o| crate::scim::filter::get_ignore_case(o, "$ref"))
            .filter(|r| r.is_string())
            .cloned();
        members.push(member_json(&member, reference));
    }
    Ok((!members.is_empty()).then_some(Value::Array(members)))
}

fn member_json(member: &MemberRef, reference: Option<Value>) -> Value {
    let mut object = Map::new();
    object.insert("value".into(), Value::String(member.value.clone()));
    if let Some(reference) = reference {
        object.insert("$ref".into(), reference);
    }
    if let Some(display) = &member.display {
        object.insert("display".into(), Value::String(display.clone()));
    }
    if let Some(member_type) = &member.member_type {
        object.insert("type".into(), Value::String(member_type.clone()));
    }
    Value::Object(object)
}

/// Returns the extension object under `urn`, creating it, or replacing a
/// value that is not an object. Returns `None` only if the map misbehaves,
/// which serde_json's does not; callers treat that as "nothing to do".
pub(crate) fn extension_mut<'a>(
    resource: &'a mut Map<String, Value>,
    urn: &str,
) -> Option<&'a mut Map<String, Value>> {
    let key = existing_key(resource, urn).unwrap_or_else(|| urn.to_owned());
    let slot = resource.entry(key).or_insert(Value::Null);
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

/// Returns the object that contains the attribute at `path`: the resource
/// itself, or the extension object, which is created if needed.
pub(crate) fn container_mut<'a>(
    resource: &'a mut Map<String, Value>,
    path: &ResolvedPath,
) -> Option<&'a mut Map<String, Value>> {
    if path.extension {
        extension_mut(resource, &path.urn)
    } else {
        Some(resource)
    }
}

/// Returns the key in `object` that equals `name` ignoring ASCII case,
/// preferring an exact match.
pub(crate) fn existing_key(object: &Map<String, Value>, name: &str) -> Option<String> {
    if object.contains_key(name) {
        return Some(name.to_owned());
    }
    object
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
}

/// Stores `value` for the top-level attribute at `path`, or removes the
/// attribute when `value` is `None`. Keys differing only in case from the
/// canonical name are replaced.
pub(crate) fn set_attribute(
    resource: &mut Map<String, Value>,
    path: &ResolvedPath,
    value: Option<Value>,
) {
    let Some(container) = container_mut(resource, path) else {
        return;
    };
    let old_key = existing_key(container, &path.attr);
    if let Some(old) = &old_key {
        if *old != path.attr || value.is_none() {
            container.shift_remove(old);
        }
    }
    if let Some(value) = value {
        container.insert(path.attr.clone(), value);
    }
}

/// Removes extension objects left empty, so output has no `"urn:…": {}`.
pub(crate) fn drop_empty_extensions(kind: ResourceKind, resource: &mut Map<String, Value>) {
    resource.retain(|key, value| {
        let is_extension = schema::is_extension_urn(kind, key);
        !(is_extension && value.as_object().is_some_and(Map::is_empty))
    });
}

/// Checks that the required attribute of `kind` (`userName` or
/// `displayName`) is a non-empty string.
pub(crate) fn check_required(
    kind: ResourceKind,
    resource: &Map<String, Value>,
) -> Result<(), ScimError> {
    let required = match kind {
        ResourceKind::User => "userName",
        ResourceKind::Group => "displayName",
    };
    match resource.get(required) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(()),
        Some(Value::String(_)) => Err(ScimError::invalid_value(format!(
            "attribute '{required}' must not be empty"
        ))),
        _ => Err(ScimError::invalid_value(format!(
            "attribute '{required}' is required"
        ))),
    }
}

/// Leaves `primary: true` on the first element of each multi-valued
/// attribute only: RFC 7643 §2.4 allows the value at most once, and a later
/// element claiming it is read as not primary.
fn keep_first_primary(resource: &mut Map<String, Value>) {
    for value in resource.values_mut() {
        let Value::Array(elements) = value else {
            continue;
        };
        let mut seen = false;
        for element in elements.iter_mut() {
            if let Some(primary) = element.get_mut("primary") {
                if *primary == Value::Bool(true) {
                    if seen {
                        *primary = Value::Bool(false);
                    }
                    seen = true;
                }
            }
        }
    }
}

/// Normalises a POST or PUT body for resource type `kind`.
///
/// The body must be a JSON object (`invalidSyntax` otherwise). The module
/// documentation gives the general rules. In addition, top-level keys
/// qualified with a known extension URN are folded into the extension
/// object, and a dotted key such as `name.givenName` is folded into its
/// complex attribute. Booleans also accept the strings "true" and "false" in
/// any case. `userName` (User) or `displayName` (Group) is required. Group
/// `members` stay in the output as normalised member objects;
/// [`take_members`] extracts them. A second
/// `primary: true` in a multi-valued attribute is stored as false.
pub fn normalize_resource(kind: ResourceKind, body: Value) -> Result<Value, ScimError> {
    let Value::Object(input) = body else {
        return Err(ScimError::invalid_syntax(format!(
            "request body must be a JSON object, got {}",
            json_type_name(&body)
        )));
    };

    let mut output = Map::new();
    for (key, value) in input {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(extension) = schema::find_schema(kind, &key).filter(|s| s.id != kind.core_urn())
        {
            normalize_extension(kind, extension.id, value, &mut output)?;
            continue;
        }
        match path::resolve(kind, &key) {
            Ok(resolved) if resolved.def.is_some() => {
                normalize_known(kind, &resolved, value, &mut output)?;
            }
            _ => {
                output.insert(key, value);
            }
        }
    }

    drop_empty_extensions(kind, &mut output);
    check_required(kind, &output)?;
    keep_first_primary(&mut output);
    Ok(Value::Object(output))
}

fn normalize_extension(
    kind: ResourceKind,
    urn: &str,
    value: Value,
    output: &mut Map<String, Value>,
) -> Result<(), ScimError> {
    let attributes = match value {
        Value::Null => return Ok(()),
        Value::Object(attributes) => attributes,
        other => {
            return Err(ScimError::invalid_value(format!(
                "extension '{urn}' must be an object, got {}",
                json_type_name(&other)
            )))
        }
    };
    // Create the extension object here, so it keeps its position among
    // the keys even if every attribute in it is unknown.
    extension_mut(output, urn);

    for (name, attr_value) in attributes {
        let known = path::AttrPath::parse(&name).ok().and_then(|mut parsed| {
            parsed.urn = Some(urn.to_owned());
            path::resolve_attr_path(kind, &parsed).ok()
        });
        match known {
            Some(resolved) if resolved.def.is_some() => {
                normalize_known(kind, &resolved, attr_value, output)?;
            }
            _ => {
                if let Some(extension) = extension_mut(output, urn) {
                    extension.insert(name, attr_value);
                }
            }
        }
    }
    Ok(())
}

/// Stores the normalised value of a modelled attribute, or of one
/// sub-attribute of a single-valued complex attribute.
fn normalize_known(
    kind: ResourceKind,
    resolved: &ResolvedPath,
    value: Value,
    output: &mut Map<String, Value>,
) -> Result<(), ScimError> {
    let Some(def) = resolved.def else {
        return Ok(());
    };
    if def.is_read_only() || resolved.sub_def.is_some_and(AttributeDef::is_read_only) {
        return Ok(());
    }
    let path_text = resolved.to_string();

    if resolved.sub_attr.is_some() {
        return normalize_dotted(resolved, def, &path_text, value, output);
    }
    let normalized = if kind == ResourceKind::Group && def.name == "members" {
        normalize_members(value)?
    } else {
        normalize_value(def, &path_text, value)?
    };
    set_attribute(output, resolved, normalized);
    Ok(())
}

/// Folds a `name.givenName` style key into its complex attribute. Keys
/// into a multi-valued attribute, such as `emails.value`, are kept as sent
/// because they do not say which element they mean.
fn normalize_dotted(
    resolved: &ResolvedPath,
    def: &AttributeDef,
    path_text: &str,
    value: Value,
    output: &mut Map<String, Value>,
) -> Result<(), ScimError> {
    let Some(sub) = resolved.sub_attr.as_deref() else {
        return Ok(());
    };
    if def.multi_valued {
        output.insert(path_text.to_owned(), value);
        return Ok(());
    }
    let normalized = match resolved.sub_def {
        Some(sub_def) => normalize_value(sub_def, path_text, value)?,
        None => (!value.is_null()).then_some(value),
    };

    let Some(container) = container_mut(output, resolved) else {
        return Ok(());
    };
    let key = existing_key(container, &resolved.attr).unwrap_or_else(|| resolved.attr.clone());
    let parent = container
        .entry(key)
        .or_insert_with(|| Value::Object(Map::new()));
    if !parent.is_object() {
        *parent = Value::Object(Map::new());
    }
    if let Value::Object(parent) = parent {
        match normalized {
            Some(v) => {
                parent.insert(sub.to_owned(), v);
            }
            None => {
                parent.shift_remove(sub);
            }
        }
    }
    if container
        .get(&resolved.attr)
        .and_then(Value::as_object)
        .is_some_and(Map::is_empty)
    {
        container.shift_remove(&resolved.attr);
    }
    Ok(())
}

/// Removes `members` from a normalised group and returns them.
///
/// Errors are `invalidValue`, for a `members` value that is not an array of
/// member objects; a resource without members returns an empty list.
pub fn take_members(resource: &mut Value) -> Result<Vec<MemberRef>, ScimError> {
    let Some(object) = resource.as_object_mut() else {
        return Ok(Vec::new());
    };
    let Some(key) = existing_key(object, "members") else {
        return Ok(Vec::new());
    };
    let members = object.shift_remove(&key).unwrap_or(Value::Null);
    match members {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(parse_member).collect(),
        single @ Value::Object(_) => Ok(vec![parse_member(&single)?]),
        other => Err(ScimError::invalid_value(format!(
            "attribute 'members' must be an array, got {}",
            json_type_name(&other)
        ))),
    }
}

/// Returns the `schemas` list for a stored resource: the core URN, plus the
/// enterprise URN when the resource has a non-empty enterprise object.
pub fn output_schemas(kind: ResourceKind, resource: &Value) -> Vec<&'static str> {
    let mut schemas = vec![kind.core_urn()];
    let has_enterprise = kind == ResourceKind::User
        && resource
            .get(ENTERPRISE_USER)
            .and_then(Value::as_object)
            .is_some_and(|o| !o.is_empty());
    if has_enterprise {
        schemas.push(ENTERPRISE_USER);
    }
    schemas
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;
    use crate::scim::schema::CORE_USER;
    use serde_json::json;

    const USER: ResourceKind = ResourceKind::User;
    const GROUP: ResourceKind = ResourceKind::Group;

    fn user_error(body: Value) -> ScimError {
        match normalize_resource(USER, body) {
            Ok(user) => panic!("normalised unexpectedly to {user}"),
            Err(e) => e,
        }
    }

    #[test]
    fn normalize_canonical_names() {
        let user = normalize_resource(
            USER,
            json!({
                "schemas": [CORE_USER],
                "USERNAME": "bjensen",
                "Emails": [{"Value": "b@x.example", "TYPE": "work", "Primary": "true"}],
                "name": {"GivenName": "Barbara", "familyname": null},
            }),
        )
        .unwrap();
        assert_eq!(
            user,
            json!({
                "userName": "bjensen",
                "emails": [{"value": "b@x.example", "type": "work", "primary": true}],
                "name": {"givenName": "Barbara"},
            })
        );
    }

    #[test]
    fn normalize_enterprise_extension() {
        let user = normalize_resource(
            USER,
            json!({
                "userName": "b",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": {"EMPLOYEENUMBER": "7", "manager": "m-1", "custom": 1},
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "R&D",
            }),
        )
        .unwrap();
        assert_eq!(
            user,
            json!({
                "userName": "b",
                ENTERPRISE_USER: {"employeeNumber": "7", "manager": {"value": "m-1"}, "custom": 1, "department": "R&D"},
            })
        );
        assert_eq!(
            output_schemas(USER, &user),
            vec![CORE_USER, ENTERPRISE_USER]
        );
    }

    #[test]
    fn normalize_drops_read_only_and_empty() {
        let user = normalize_resource(
            USER,
            json!({
                "id": "client-chosen",
                "meta": {"created": "2020-01-01T00:00:00Z"},
                "groups": [{"value": "g1"}],
                "userName": "b",
                "emails": [],
                "title": null,
                "name": {},
                ENTERPRISE_USER: {"manager": {"displayName": "Boss"}},
            }),
        )
        .unwrap();
        assert_eq!(user, json!({"userName": "b"}));
        assert_eq!(output_schemas(USER, &user), vec![CORE_USER]);
    }

    #[test]
    fn normalize_keeps_unknown_attributes() {
        let body = json!({
            "userName": "b",
            "costCode": {"a": [1, 2]},
            "urn:example:custom:1.0:User": {"badge": "7"},
            "urn:example:custom:1.0:User:floor": 3,
            "emails.value": "x",
            "password": "pw",
        });
        let user = normalize_resource(USER, body.clone()).unwrap();
        assert_eq!(user, body);
    }

    #[test]
    fn normalize_single_object_as_array() {
        let user =
            normalize_resource(USER, json!({"userName": "b", "emails": {"value": "a@b"}})).unwrap();
        assert_eq!(user["emails"], json!([{"value": "a@b"}]));
    }

    #[test]
    fn normalize_dotted_key() {
        let user = normalize_resource(USER, json!({"userName": "b", "name.familyName": "Jensen"}))
            .unwrap();
        assert_eq!(
            user,
            json!({"userName": "b", "name": {"familyName": "Jensen"}})
        );
    }

    #[test]
    fn normalize_type_errors() {
        let cases = [
            (json!({"userName": "b", "emails": "x@y"}), "attribute 'emails' must be an array, got a string"),
            (json!({"userName": "b", "emails": ["x@y"]}), "each value of attribute 'emails' must be an object, got a string"),
            (json!({"userName": "b", "active": "yes"}), "attribute 'active' must be true or false, got a string"),
            (json!({"userName": "b", "title": ["a"]}), "attribute 'title' is single-valued, got an array"),
            (json!({"userName": "b", "name": "Barbara"}), "attribute 'name' must be an object, got a string"),
            (json!({"userName": 5}), "attribute 'userName' must be a string, got a number"),
            (
                json!({"userName": "b", ENTERPRISE_USER: "x"}),
                "extension 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User' must be an object, got a string",
            ),
            (
                json!({"userName": "b", ENTERPRISE_USER: {"costCenter": 1}}),
                "attribute 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter' must be a string, got a number",
            ),
            (json!({"displayName": "b"}), "attribute 'userName' is required"),
            (json!({"userName": "  "}), "attribute 'userName' must not be empty"),
        ];
        for (body, detail) in cases {
            let err = user_error(body.clone());
            assert_eq!(err.scim_type, Some(ScimType::InvalidValue), "{body}");
            assert_eq!(err.detail, detail, "{body}");
        }
    }

    #[test]
    fn normalize_rejects_non_object() {
        let err = normalize_resource(USER, json!(["userName"])).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidSyntax));
        assert_eq!(
            err.detail,
            "request body must be a JSON object, got an array"
        );
    }

    #[test]
    fn normalize_group_members() {
        let mut group = normalize_resource(
            GROUP,
            json!({
                "DisplayName": "Eng",
                "members": [
                    {"value": "u1", "$ref": null, "display": "Ann", "type": "user"},
                    {"value": "g1", "$ref": "https://h/Groups/g1", "type": "Group"}
                ],
            }),
        )
        .unwrap();
        assert_eq!(
            group,
            json!({
                "displayName": "Eng",
                "members": [
                    {"value": "u1", "display": "Ann", "type": "User"},
                    {"value": "g1", "$ref": "https://h/Groups/g1", "type": "Group"}
                ],
            })
        );
        let members = take_members(&mut group).unwrap();
        assert_eq!(group, json!({"displayName": "Eng"}));
        assert_eq!(members.len(), 2);
        assert_eq!(members[0].display.as_deref(), Some("Ann"));
        assert_eq!(members[1].member_type.as_deref(), Some("Group"));
        assert_eq!(take_members(&mut group).unwrap(), Vec::new());
    }

    #[test]
    fn normalize_group_errors() {
        let err = normalize_resource(GROUP, json!({"members": []})).unwrap_err();
        assert_eq!(err.detail, "attribute 'displayName' is required");
        let err = normalize_resource(
            GROUP,
            json!({"displayName": "g", "members": [{"value": ""}]}),
        )
        .unwrap_err();
        assert_eq!(err.detail, "member 'value' must not be empty");
        let err =
            normalize_resource(GROUP, json!({"displayName": "g", "members": "u1"})).unwrap_err();
        assert_eq!(
            err.detail,
            "attribute 'members' must be an array, got a string"
        );
        assert_eq!(
            output_schemas(GROUP, &json!({ENTERPRISE_USER: {"a": 1}})),
            vec![schema::CORE_GROUP]
        );
    }
}

#[cfg(test)]
mod primary_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn second_primary_is_cleared() {
        let body = json!({
            "userName": "a",
            "emails": [
                {"value": "a@x", "primary": true},
                {"value": "b@x", "primary": true},
                {"value": "c@x"}
            ]
        });
        let user = normalize_resource(ResourceKind::User, body).unwrap();
        let flags: Vec<&Value> = user["emails"]
            .as_array()
            .unwrap()
            .iter()
            .map(|email| email.get("primary").unwrap_or(&Value::Null))
            .collect();
        assert_eq!(flags, vec![&json!(true), &json!(false), &Value::Null]);
    }
}
