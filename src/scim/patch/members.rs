//! Group membership changes extracted from PATCH operations.
//!
//! Membership is stored as rows rather than in the group's JSON, so every
//! operation on `members` becomes a [`MemberOp`] for the storage layer.

use serde_json::{Map, Value};

use super::{MemberOp, MemberRef, PatchOpKind, PatchOperation};
use crate::scim::error::ScimError;
use crate::scim::filter::{get_ignore_case, CompareOp, Filter};
use crate::scim::path::PatchPath;
use crate::scim::resource::json_type_name;

/// Parses one member object: a non-empty string `value`, an optional
/// `display`, an optional `type` of "User" or "Group" (any case), and a
/// `$ref` that may be a string or null. Errors are `invalidValue`.
pub fn parse_member(value: &Value) -> Result<MemberRef, ScimError> {
    let Some(object) = value.as_object() else {
        return Err(ScimError::invalid_value(format!(
            "each member must be an object with a 'value' id, got {}",
            json_type_name(value)
        )));
    };

    let id = match get_ignore_case(object, "value") {
        Some(Value::String(id)) if !id.trim().is_empty() => id.clone(),
        Some(Value::String(_)) => {
            return Err(ScimError::invalid_value("member 'value' must not be empty"));
        }
        Some(other) => {
            return Err(ScimError::invalid_value(format!(
                "member 'value' must be a string id, got {}",
                json_type_name(other)
            )))
        }
        None => return Err(ScimError::invalid_value("member is missing its 'value' id")),
    };

    match get_ignore_case(object, "$ref") {
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(other) => {
            return Err(ScimError::invalid_value(format!(
                "member '$ref' of '{id}' must be a string or null, got {}",
                json_type_name(other)
            )))
        }
    }

    let display = match get_ignore_case(object, "display") {
        None | Some(Value::Null) => None,
        Some(Value::String(display)) => Some(display.clone()),
        Some(other) => {
            return Err(ScimError::invalid_value(format!(
                "member 'display' of '{id}' must be a string, got {}",
                json_type_name(other)
            )))
        }
    };

    let member_type = match get_ignore_case(object, "type") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if t.eq_ignore_ascii_case("User") => Some("User".to_owned()),
        Some(Value::String(t)) if t.eq_ignore_ascii_case("Group") => Some("Group".to_owned()),
        Some(other) => {
            return Err(ScimError::invalid_value(format!(
                "member 'type' of '{id}' must be \"User\" or \"Group\", got {other}"
            )))
        }
    };

    Ok(MemberRef {
        value: id,
        display,
        member_type,
    })
}

/// Parses the value of an add or replace on `members`: an array of member
/// objects or a single one; null means none.
fn parse_member_list(value: Option<&Value>) -> Result<Vec<MemberRef>, ScimError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(parse_member).collect(),
        Some(single @ Value::Object(_)) => Ok(vec![parse_member(single)?]),
        Some(other) => Err(ScimError::invalid_value(format!(
            "attribute 'members' must be an array of member objects, got {}",
            json_type_name(other)
        ))),
    }
}

/// Parses the value of a remove on `members`: member objects or bare id
/// strings, returning the ids.
fn parse_member_ids(value: &Value) -> Result<Vec<String>, ScimError> {
    let items = match value {
        Value::Array(items) => items.as_slice(),
        single => std::slice::from_ref(single),
    };
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::String(id) if !id.trim().is_empty() => ids.push(id.clone()),
            other => ids.push(parse_member(other)?.value),
        }
    }
    Ok(ids)
}

/// Collects the ids of a member filter made of `value eq "id"` terms joined
/// by `or`. Errors are `invalidFilter`.
fn filter_ids(filter: &Filter, ids: &mut Vec<String>) -> Result<(), ScimError> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: Value::String(id),
        } if path.sub_attr.as_deref() == Some("value") => {
            ids.push(id.clone());
            Ok(())
        }
        Filter::Or(left, right) => {
            filter_ids(left, ids)?;
            filter_ids(right, ids)
        }
        other => Err(ScimError::invalid_filter(format!(
            "member filters support only 'value eq' comparisons joined by 'or', \
             e.g. members[value eq \"2819c223\"], got [{}]",
            other.in_brackets()
        ))),
    }
}

/// Returns true when `path` targets the core `members` attribute.
pub(super) fn targets_members(path: &PatchPath) -> bool {
    !path.attr.extension && path.attr.def.is_some_and(|d| d.name == "members")
}

/// Converts an operation whose path targets `members` into a membership
/// change; `None` means the operation changes nothing.
pub(super) fn member_op_for_path(
    operation: &PatchOperation,
    path: &PatchPath,
) -> Result<Option<MemberOp>, ScimError> {
    if path.attr.sub_attr.is_some() || path.sub_attr.is_some() {
        return Err(ScimError::invalid_path(format!(
            "path '{path}' is not supported: members can only be added, replaced or \
             removed whole, with path 'members' or 'members[value eq \"id\"]'"
        )));
    }

    if let Some(filter) = &path.value_filter {
        if operation.op != PatchOpKind::Remove {
            return Err(ScimError::invalid_path(format!(
                "path '{path}' is not supported for '{}': use path 'members' \
                 with the member objects as the value",
                operation.op.as_str()
            )));
        }
        let mut ids = Vec::new();
        filter_ids(filter, &mut ids)?;
        return Ok(Some(MemberOp::Remove(ids)));
    }

    match operation.op {
        PatchOpKind::Add => {
            let members = parse_member_list(operation.value.as_ref())?;
            Ok((!members.is_empty()).then_some(MemberOp::Add(members)))
        }
        PatchOpKind::Replace => Ok(Some(MemberOp::Replace(parse_member_list(
            operation.value.as_ref(),
        )?))),
        PatchOpKind::Remove => match &operation.value {
            None | Some(Value::Null) => Ok(Some(MemberOp::RemoveAll)),
            Some(value) => {
                let ids = parse_member_ids(value)?;
                Ok((!ids.is_empty()).then_some(MemberOp::Remove(ids)))
            }
        },
    }
}

/// Splits the `members` key out of the value of an add or replace without
/// a path, returning the membership change and the remaining value.
pub(super) fn split_members_from_value(
    op: PatchOpKind,
    value: &Map<String, Value>,
    is_members_key: impl Fn(&str) -> bool,
) -> Result<(Option<MemberOp>, Map<String, Value>), ScimError> {
    let mut rest = Map::new();
    let mut member_op = None;
    for (key, item) in value {
        if !is_members_key(key) {
            rest.insert(key.clone(), item.clone());
            continue;
        }
        let members = parse_member_list(Some(item))?;
        member_op = match op {
            PatchOpKind::Replace => Some(MemberOp::Replace(members)),
            _ if members.is_empty() => None,
            _ => Some(MemberOp::Add(members)),
        };
    }
    Ok((member_op, rest))
}
