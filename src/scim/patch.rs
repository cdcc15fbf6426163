//! SCIM PATCH (RFC 7644 §3.5.2): request parsing and application to User
//! and Group resources.
//!
//! Application works on a copy of the resource and stores it only when
//! every operation succeeded, so a failed request changes nothing.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::get_ignore_case;
use super::path::{self, parse_patch_path, PatchPath, ResolvedPath};
use super::resource::{check_required, drop_empty_extensions, json_type_name};
use super::schema::{self, ResourceKind, PATCH_OP};

mod apply;
mod members;
#[cfg(test)]
mod tests;
mod values;

pub use members::parse_member;

/// The `op` of a PATCH operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchOpKind {
    /// Add values, or set a single-valued attribute.
    Add,
    /// Remove an attribute or matching values.
    Remove,
    /// Replace an attribute or matching values.
    Replace,
}

impl PatchOpKind {
    /// Parses an op name, ignoring ASCII case: Entra ID sends "Add" and
    /// "Replace".
    pub fn parse(name: &str) -> Option<PatchOpKind> {
        [PatchOpKind::Add, PatchOpKind::Remove, PatchOpKind::Replace]
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(name))
    }

    /// Returns the lowercase op name.
    pub fn as_str(self) -> &'static str {
        match self {
            PatchOpKind::Add => "add",
            PatchOpKind::Remove => "remove",
            PatchOpKind::Replace => "replace",
        }
    }
}

/// One parsed PATCH operation.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchOperation {
    /// The operation.
    pub op: PatchOpKind,
    /// Target path; `None` means the value names the attributes.
    pub path: Option<PatchPath>,
    /// The `value` member as sent; always present for add and replace.
    pub value: Option<Value>,
}

/// A group member as sent by the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRef {
    /// Id of the member resource.
    pub value: String,
    /// Display name sent by the client.
    pub display: Option<String>,
    /// "User" or "Group", if the client sent a type.
    pub member_type: Option<String>,
}

/// A change to a group's membership, in request order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberOp {
    /// Add these members; members already present stay.
    Add(Vec<MemberRef>),
    /// Remove the members with these ids; absent ids are ignored.
    Remove(Vec<String>),
    /// Remove every member.
    RemoveAll,
    /// Make these the only members.
    Replace(Vec<MemberRef>),
}

/// Parses a PATCH request body for resource type `kind`.
///
/// The body needs `schemas` containing the PatchOp URN and a non-empty
/// `Operations` array (key matched ignoring case). Each operation needs an
/// `op`; `remove` needs a `path` (`noTarget` otherwise), and `add` and
/// `replace` need a `value` (`invalidValue` otherwise). A path that names a
/// whole extension schema is rewritten to a value without a path, e.g.
/// `{"urn:…:enterprise:2.0:User": value}`. Errors name the operation as
/// `Operations[i]`.
pub fn parse_patch_request(
    kind: ResourceKind,
    body: &Value,
) -> Result<Vec<PatchOperation>, ScimError> {
    let Some(object) = body.as_object() else {
        return Err(ScimError::invalid_syntax(format!(
            "PATCH request body must be a JSON object, got {}",
            json_type_name(body)
        )));
    };

    let has_schema = get_ignore_case(object, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|schemas| {
            schemas
                .iter()
                .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP)))
        });
    if !has_schema {
        return Err(ScimError::invalid_syntax(format!(
            "PATCH request 'schemas' must contain \"{PATCH_OP}\""
        )));
    }

    let operations = match get_ignore_case(object, "Operations") {
        Some(Value::Array(operations)) if !operations.is_empty() => operations,
        Some(Value::Array(_)) => {
            return Err(ScimError::invalid_syntax(
                "PATCH request 'Operations' is empty",
            ));
        }
        Some(other) => {
            return Err(ScimError::invalid_syntax(format!(
                "PATCH request 'Operations' must be an array, got {}",
                json_type_name(other)
            )))
        }
        None => {
            return Err(ScimError::invalid_syntax(
                "PATCH request has no 'Operations' array",
            ))
        }
    };

    operations
        .iter()
        .enumerate()
        .map(|(index, operation)| {
            parse_operation(kind, operation).map_err(|e| at_operation(index, e))
        })
        .collect()
}

fn at_operation(index: usize, error: ScimError) -> ScimError {
    ScimError {
        detail: format!("Operations[{index}]: {}", error.detail),
        ..error
    }
}

fn parse_operation(kind: ResourceKind, operation: &Value) -> Result<PatchOperation, ScimError> {
    let Some(object) = operation.as_object() else {
        return Err(ScimError::invalid_syntax(format!(
            "operation must be an object, got {}",
            json_type_name(operation)
        )));
    };

    let op = match get_ignore_case(object, "op") {
        Some(Value::String(name)) => PatchOpKind::parse(name).ok_or_else(|| {
            ScimError::invalid_syntax(format!(
                "unknown op '{name}': expected 'add', 'remove' or 'replace'"
            ))
        })?,
        Some(other) => {
            return Err(ScimError::invalid_syntax(format!(
                "'op' must be a string, got {}",
                json_type_name(other)
            )))
        }
        None => return Err(ScimError::invalid_syntax("operation has no 'op'")),
    };
    let mut value = get_ignore_case(object, "value").cloned();

    let raw_path = match get_ignore_case(object, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(raw)) if raw.trim().is_empty() => None,
        Some(Value::String(raw)) => Some(raw.trim()),
        Some(other) => {
            return Err(ScimError::invalid_path(format!(
                "'path' must be a string, got {}",
                json_type_name(other)
            )))
        }
    };

    let path = match raw_path {
        None => None,
        Some(raw) => match schema::find_schema(kind, raw) {
            Some(found) if op == PatchOpKind::Remove && found.id != kind.core_urn() => {
                // Removing an extension URN removes the whole extension object.
                Some(PatchPath {
                    attr: ResolvedPath {
                        urn: found.id.to_owned(),
                        extension: true,
                        attr: String::new(),
                        sub_attr: None,
                        def: None,
                        sub_def: None,
                    },
                    value_filter: None,
                    sub_attr: None,
                })
            }
            Some(found) if op == PatchOpKind::Remove => {
                return Err(ScimError::invalid_path(format!(
                    "removing the whole schema '{}' is not supported: remove its attributes \
                     one by one",
                    found.id
                )));
            }
            Some(found) => {
                let mut wrapped = Map::new();
                if let Some(inner) = value.take() {
                    wrapped.insert(found.id.to_owned(), inner);
                }
                value = Some(Value::Object(wrapped));
                None
            }
            None => Some(parse_patch_path(kind, raw)?),
        },
    };

    if op == PatchOpKind::Remove && path.is_none() {
        return Err(ScimError::no_target("a 'remove' operation needs a 'path'"));
    }
    if op != PatchOpKind::Remove && value.is_none() {
        return Err(ScimError::invalid_value(format!(
            "the '{}' operation needs a 'value'",
            op.as_str()
        )));
    }
    Ok(PatchOperation { op, path, value })
}

fn resource_object(resource: &Value) -> Result<Map<String, Value>, ScimError> {
    match resource {
        Value::Object(object) => Ok(object.clone()),
        other => Err(ScimError::invalid_syntax(format!(
            "the resource to patch must be a JSON object, got {}",
            json_type_name(other)
        ))),
    }
}

/// Applies `ops` to a normalised User resource.
///
/// Values are normalised as by [`crate::scim::resource::normalize_resource`].
/// A read-only attribute as an explicit path is a `mutability` error, but is
/// skipped silently as a key of a value without a path. On error `resource`
/// is unchanged.
pub fn apply_user_patch(resource: &mut Value, ops: &[PatchOperation]) -> Result<(), ScimError> {
    let kind = ResourceKind::User;
    let mut working = resource_object(resource)?;
    for (index, operation) in ops.iter().enumerate() {
        apply::apply_operation(kind, &mut working, operation)
            .map_err(|e| at_operation(index, e))?;
    }
    drop_empty_extensions(kind, &mut working);
    check_required(kind, &working)?;
    *resource = Value::Object(working);
    Ok(())
}

/// Applies `ops` to a normalised Group resource without its `members`.
///
/// Operations on other attributes change the JSON as for users. Operations
/// on `members` leave the JSON alone and are returned in request order as
/// [`MemberOp`]s. A member filter may only be `value eq "id"` terms joined
/// by `or` (`invalidFilter` otherwise), and may only be used with remove.
/// On error `resource` is unchanged.
pub fn apply_group_patch(
    resource: &mut Value,
    ops: &[PatchOperation],
) -> Result<Vec<MemberOp>, ScimError> {
    let kind = ResourceKind::Group;
    let mut working = resource_object(resource)?;
    let mut member_ops = Vec::new();

    for (index, operation) in ops.iter().enumerate() {
        apply_group_operation(kind, &mut working, operation, &mut member_ops)
            .map_err(|e| at_operation(index, e))?;
    }
    drop_empty_extensions(kind, &mut working);
    check_required(kind, &working)?;
    *resource = Value::Object(working);
    Ok(member_ops)
}

fn apply_group_operation(
    kind: ResourceKind,
    working: &mut Map<String, Value>,
    operation: &PatchOperation,
    member_ops: &mut Vec<MemberOp>,
) -> Result<(), ScimError> {
    if let Some(path) = &operation.path {
        if members::targets_members(path) {
            member_ops.extend(members::member_op_for_path(operation, path)?);
            return Ok(());
        }
        return apply::apply_operation(kind, working, operation);
    }

    let Some(Value::Object(value)) = &operation.value else {
        return apply::apply_operation(kind, working, operation);
    };
    let is_members_key = |key: &str| {
        path::resolve(kind, key).is_ok_and(|p| {
            !p.extension && p.sub_attr.is_none() && p.def.is_some_and(|d| d.name == "members")
        })
    };
    let (member_op, rest) = members::split_members_from_value(operation.op, value, is_members_key)?;
    member_ops.extend(member_op);
    apply::apply_without_path(kind, working, operation.op, Some(&Value::Object(rest)))
}
