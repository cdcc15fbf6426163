//! Which column or JSON value a SCIM filter path compares, independent of
//! the SQL dialect. Both backends use the same schema names (`r` for the
//! resource row, `e` for `user_emails`, `m` and `gm` for `group_members`,
//! `el` for a JSON array element), so the column expressions here are valid
//! on both; each backend's `filter` module turns these targets into SQL.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::scim::error::ScimError;
use crate::scim::filter::CompareOp;
use crate::scim::list::SortKey;
use crate::scim::path::ResolvedPath;
use crate::scim::schema::{AttrType, ResourceKind};

/// Evaluation context of the attribute paths in a (sub-)filter.
#[derive(Clone, Debug)]
pub(crate) enum Scope {
    /// Against the resource row `r`.
    Resource(ResourceKind),
    /// Against one element of a multi-valued attribute.
    Element(Elements),
}

/// The elements of a multi-valued attribute, and how to reach them.
#[derive(Clone, Debug)]
pub(crate) enum Elements {
    /// Rows of `user_emails` as `e`.
    Emails,
    /// Rows of `group_members` of the group as `m`.
    Members,
    /// Rows of `group_members` naming the user as `gm`.
    UserGroups,
    /// Elements of a JSON array in the stored resource, as `el`.
    Json(Vec<String>),
}

/// A SQL expression for one attribute, with how to compare it.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    /// A column or SQL expression of a known type.
    Column {
        /// The SQL expression, the same on both backends.
        sql: &'static str,
        /// How the column is stored, which decides how values are bound.
        column: ColumnType,
        /// Whether text compares case-sensitively.
        case_exact: bool,
    },
    /// A value inside the stored JSON document.
    Json {
        /// Where the value sits.
        base: JsonBase,
        /// Schema type of the attribute.
        attr_type: AttrType,
        /// Whether text compares case-sensitively.
        case_exact: bool,
    },
}

/// Type of an indexed column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ColumnType {
    /// Text.
    Text,
    /// Boolean.
    Boolean,
    /// Point in time.
    Timestamp,
    /// Resource id.
    Uuid,
}

/// Location of a value inside stored JSON.
#[derive(Clone, Debug)]
pub(crate) enum JsonBase {
    /// The value at this key path of the resource row's `resource` column.
    Resource(Vec<String>),
    /// The member with this name of the current JSON array element `el`.
    Element(String),
}

pub(crate) fn unsupported(path: &ResolvedPath) -> ScimError {
    ScimError::invalid_filter(format!(
        "filtering on '{}' is not supported",
        display_path(path)
    ))
}

pub(crate) fn display_path(path: &ResolvedPath) -> String {
    match &path.sub_attr {
        Some(sub) => format!("{}.{}", path.attr, sub),
        None => path.attr.clone(),
    }
}

pub(crate) fn attr_type(path: &ResolvedPath) -> (AttrType, bool) {
    match path.target_def() {
        Some(def) => (def.attr_type, def.case_exact),
        None => (AttrType::String, false),
    }
}

/// Maps a top-level path of the resource to what it compares.
pub(crate) fn resource_target(
    kind: ResourceKind,
    path: &ResolvedPath,
) -> Result<PathTarget, ScimError> {
    if !path.is_known() {
        return Err(ScimError::invalid_filter(format!(
            "unknown attribute '{}' in filter",
            display_path(path)
        )));
    }
    let sub = path.sub_attr.as_deref();
    if !path.extension {
        let column = |sql, column, case_exact| {
            PathTarget::Single(Target::Column {
                sql,
                column,
                case_exact,
            })
        };
        match (kind, path.attr.as_str(), sub) {
            (_, "id", None) => return Ok(column("r.id", ColumnType::Uuid, true)),
            (_, "externalId", None) => return Ok(column("r.external_id", ColumnType::Text, true)),
            (_, "displayName", None) => {
                return Ok(column("r.display_name", ColumnType::Text, false))
            }
            (ResourceKind::User, "userName", None) => {
                return Ok(column("r.user_name", ColumnType::Text, false))
            }
            (_, "meta", Some("created")) => {
                return Ok(column("r.created_at", ColumnType::Timestamp, true))
            }
            (_, "meta", Some("lastModified")) => {
                return Ok(column("r.last_modified", ColumnType::Timestamp, true))
            }
            (ResourceKind::User, "meta", Some("resourceType")) => {
                return Ok(column("'User'", ColumnType::Text, true))
            }
            (ResourceKind::Group, "meta", Some("resourceType")) => {
                return Ok(column("'Group'", ColumnType::Text, true))
            }
            (_, "meta", _) => return Err(unsupported(path)),
            (ResourceKind::User, "emails", _) => return Ok(PathTarget::Multi(Elements::Emails)),
            (ResourceKind::User, "groups", _) => {
                return Ok(PathTarget::Multi(Elements::UserGroups))
            }
            (ResourceKind::Group, "members", _) => return Ok(PathTarget::Multi(Elements::Members)),
            _ => {}
        }
    }
    let mut json_path = Vec::with_capacity(3);
    if path.extension {
        json_path.push(path.urn.clone());
    }
    json_path.push(path.attr.clone());
    let multi_valued = path.def.is_some_and(|def| def.multi_valued);
    if multi_valued {
        return Ok(PathTarget::Multi(Elements::Json(json_path)));
    }
    if let Some(sub) = sub {
        json_path.push(sub.to_owned());
    }
    let (attr_type, case_exact) = attr_type(path);
    if attr_type == AttrType::Complex {
        return Err(ScimError::invalid_filter(format!(
            "'{}' is a complex attribute: filter on one of its sub-attributes",
            display_path(path)
        )));
    }
    Ok(PathTarget::Single(Target::Json {
        base: JsonBase::Resource(json_path),
        attr_type,
        case_exact,
    }))
}

/// Maps a sub-attribute of a multi-valued attribute's element.
pub(crate) fn element_target(
    elements: &Elements,
    path: &ResolvedPath,
) -> Result<Target, ScimError> {
    // A multi-valued attribute of simple values is compared as its `value`.
    let sub = path.sub_attr.as_deref().unwrap_or("value");
    let column = |sql, column, case_exact| {
        Ok(Target::Column {
            sql,
            column,
            case_exact,
        })
    };
    match (elements, sub) {
        (Elements::Emails, "value") => column("e.value", ColumnType::Text, false),
        (Elements::Emails, "type") => column("e.type", ColumnType::Text, false),
        (Elements::Emails, "primary") => column("e.is_primary", ColumnType::Boolean, true),
        (Elements::Members, "value") => column("m.member_id", ColumnType::Uuid, true),
        (Elements::Members, "type") => column("m.member_type", ColumnType::Text, false),
        (Elements::Members, "display") => column("m.display", ColumnType::Text, false),
        (Elements::UserGroups, "value") => column("gm.group_id", ColumnType::Uuid, true),
        (Elements::Json(_), name) => {
            let (attr_type, case_exact) = attr_type(path);
            Ok(Target::Json {
                base: JsonBase::Element(name.to_owned()),
                attr_type,
                case_exact,
            })
        }
        _ => Err(unsupported(path)),
    }
}

/// What a top-level filter path names.
pub(crate) enum PathTarget {
    /// One value per resource.
    Single(Target),
    /// A multi-valued attribute, compared element by element.
    Multi(Elements),
}

/// An invalid-filter error for a value of the wrong type.
pub(crate) fn type_mismatch(op: CompareOp, value: &Value, expected: &str) -> ScimError {
    ScimError::invalid_filter(format!(
        "operator '{}' needs {expected}, got {value}",
        format!("{op:?}").to_lowercase()
    ))
}

/// Parses the RFC 3339 value of a dateTime comparison.
pub(crate) fn parse_time(op: CompareOp, value: &Value) -> Result<DateTime<Utc>, ScimError> {
    let text = value
        .as_str()
        .ok_or_else(|| type_mismatch(op, value, "a dateTime string"))?;
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| ScimError::invalid_filter(format!("'{text}' is not an RFC 3339 dateTime")))
}

/// The order key of a list query: the `sortBy` attribute, else the
/// creation time. Each backend turns it into SQL.
#[derive(Clone, Debug)]
pub(crate) enum OrderKey {
    /// `r.created_at`.
    Created,
    /// A column or JSON value.
    Target(Target),
    /// The primary (else first) email address, compared ignoring case.
    PrimaryEmail,
}

impl OrderKey {
    /// Resolves `sortBy`: a singular attribute, or `emails.value`, which
    /// sorts by the primary address. Other multi-valued attributes are an
    /// `invalidValue` error.
    pub(crate) fn from_sort(kind: ResourceKind, sort: Option<&SortKey>) -> Result<Self, ScimError> {
        let Some(sort) = sort else {
            return Ok(OrderKey::Created);
        };
        let path = &sort.path;
        if path.def.is_some_and(|def| def.multi_valued) {
            let is_email_value = kind == ResourceKind::User
                && !path.extension
                && path.attr == "emails"
                && path.sub_attr.as_deref().is_none_or(|sub| sub == "value");
            if is_email_value {
                return Ok(OrderKey::PrimaryEmail);
            }
            return Err(ScimError::invalid_value(format!(
                "sortBy: '{path}' is multi-valued; sorting is supported on singular attributes and on emails.value"
            )));
        }
        match resource_target(kind, path) {
            Ok(PathTarget::Single(target)) => Ok(OrderKey::Target(target)),
            _ => Err(ScimError::invalid_value(format!(
                "sortBy: sorting on '{path}' is not supported"
            ))),
        }
    }
}
