//! Compiles a parsed SCIM filter into a PostgreSQL `where` clause.
//!
//! Every value is bound, never formatted into the statement; the only text
//! pushed into the SQL comes from this file. Indexed columns serve the
//! attributes identity providers look up (`userName`, `externalId`,
//! `displayName`, `emails.value`, `members.value`, `meta.*`); any other
//! modelled attribute is read from the stored JSON.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use crate::scim::error::ScimError;
use crate::scim::filter::{CompareOp, Filter};
use crate::scim::path::ResolvedPath;
use crate::scim::schema::{AttrType, ResourceKind};

/// Appends ` and (<filter>)` when there is a filter.
pub(super) fn push_where(
    builder: &mut QueryBuilder<'_, Postgres>,
    kind: ResourceKind,
    filter: Option<&Filter>,
) -> Result<(), ScimError> {
    if let Some(filter) = filter {
        builder.push(" and (");
        push_filter(builder, &Scope::Resource(kind), filter)?;
        builder.push(")");
    }
    Ok(())
}

/// Evaluation context of the attribute paths in a (sub-)filter.
#[derive(Clone, Debug)]
enum Scope {
    /// Against the resource row `r`.
    Resource(ResourceKind),
    /// Against one element of a multi-valued attribute.
    Element(Elements),
}

/// The elements of a multi-valued attribute, and how to reach them.
#[derive(Clone, Debug)]
pub(super) enum Elements {
    /// Rows of `user_emails` as `e`.
    Emails,
    /// Rows of `group_members` of the group as `m`.
    Members,
    /// Rows of `group_members` naming the user as `gm`.
    UserGroups,
    /// Elements of a JSON array in the stored resource, as `el`.
    Json(Vec<String>),
}

impl Elements {
    fn push_exists_start(&self, builder: &mut QueryBuilder<'_, Postgres>) {
        match self {
            Elements::Emails => {
                builder.push(
                    "exists (select 1 from user_emails e where e.directory_id = r.directory_id and e.user_id = r.id and (",
                );
            }
            Elements::Members => {
                builder.push(
                    "exists (select 1 from group_members m where m.directory_id = r.directory_id and m.group_id = r.id and (",
                );
            }
            Elements::UserGroups => {
                builder.push(
                    "exists (select 1 from group_members gm where gm.directory_id = r.directory_id and gm.member_id = r.id and (",
                );
            }
            Elements::Json(path) => {
                builder.push("exists (select 1 from jsonb_array_elements(case when jsonb_typeof(r.resource #> ");
                builder.push_bind(path.clone());
                builder.push(") = 'array' then r.resource #> ");
                builder.push_bind(path.clone());
                builder.push(" else '[]'::jsonb end) as el where (");
            }
        }
    }
}

/// A SQL expression for one attribute, with how to compare it.
#[derive(Clone, Debug)]
pub(super) enum Target {
    /// A column or SQL expression of a known type.
    Column {
        sql: &'static str,
        column: ColumnType,
        case_exact: bool,
    },
    /// A value inside the stored JSON: `base #> path` (or `el -> name`).
    Json {
        base: JsonBase,
        attr_type: AttrType,
        case_exact: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ColumnType {
    Text,
    Boolean,
    Timestamp,
    Uuid,
}

#[derive(Clone, Debug)]
pub(super) enum JsonBase {
    /// `r.resource #> path`.
    Resource(Vec<String>),
    /// `el -> name`, inside a JSON array element.
    Element(String),
}

impl Target {
    pub(super) fn push_json(builder: &mut QueryBuilder<'_, Postgres>, base: &JsonBase) {
        match base {
            JsonBase::Resource(path) => {
                builder.push("(r.resource #> ");
                builder.push_bind(path.clone());
                builder.push(")");
            }
            JsonBase::Element(name) => {
                builder.push("(el -> ");
                builder.push_bind(name.clone());
                builder.push(")");
            }
        }
    }
}

fn unsupported(path: &ResolvedPath) -> ScimError {
    ScimError::invalid_filter(format!(
        "filtering on '{}' is not supported",
        display_path(path)
    ))
}

fn display_path(path: &ResolvedPath) -> String {
    match &path.sub_attr {
        Some(sub) => format!("{}.{}", path.attr, sub),
        None => path.attr.clone(),
    }
}

fn attr_type(path: &ResolvedPath) -> (AttrType, bool) {
    match path.target_def() {
        Some(def) => (def.attr_type, def.case_exact),
        None => (AttrType::String, false),
    }
}

/// Maps a top-level path of the resource to what it compares.
pub(super) fn resource_target(
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
            (ResourceKind::User, "active", None) => {
                return Ok(column("r.active", ColumnType::Boolean, true))
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
fn element_target(elements: &Elements, path: &ResolvedPath) -> Result<Target, ScimError> {
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

pub(super) enum PathTarget {
    Single(Target),
    Multi(Elements),
}

fn push_filter(
    builder: &mut QueryBuilder<'_, Postgres>,
    scope: &Scope,
    filter: &Filter,
) -> Result<(), ScimError> {
    match filter {
        Filter::And(left, right) | Filter::Or(left, right) => {
            let joiner = if matches!(filter, Filter::And(..)) {
                " and "
            } else {
                " or "
            };
            builder.push("(");
            push_filter(builder, scope, left)?;
            builder.push(joiner);
            push_filter(builder, scope, right)?;
            builder.push(")");
        }
        Filter::Not(inner) => {
            builder.push("not coalesce((");
            push_filter(builder, scope, inner)?;
            builder.push("), false)");
        }
        Filter::ValuePath { attr, filter } => {
            let Scope::Resource(kind) = scope else {
                return Err(ScimError::invalid_filter("value filters cannot be nested"));
            };
            match resource_target(*kind, attr)? {
                PathTarget::Multi(elements) => {
                    elements.push_exists_start(builder);
                    push_filter(builder, &Scope::Element(elements.clone()), filter)?;
                    builder.push("))");
                }
                PathTarget::Single(_) => {
                    return Err(ScimError::invalid_filter(format!(
                        "'{}[...]' needs a multi-valued attribute",
                        attr.attr
                    )))
                }
            }
        }
        Filter::Compare { path, op, value } => {
            push_leaf(builder, scope, path, |builder, target| {
                push_compare(builder, target, *op, value)
            })?;
        }
        Filter::Present(path) => {
            push_leaf(builder, scope, path, push_present)?;
        }
    }
    Ok(())
}

/// Resolves `path` in `scope` and pushes a condition on it; a path into a
/// multi-valued attribute becomes `exists` over its elements.
fn push_leaf<F>(
    builder: &mut QueryBuilder<'_, Postgres>,
    scope: &Scope,
    path: &ResolvedPath,
    push_condition: F,
) -> Result<(), ScimError>
where
    F: FnOnce(&mut QueryBuilder<'_, Postgres>, &Target) -> Result<(), ScimError>,
{
    match scope {
        Scope::Element(elements) => {
            let target = element_target(elements, path)?;
            push_condition(builder, &target)
        }
        Scope::Resource(kind) => match resource_target(*kind, path)? {
            PathTarget::Single(target) => push_condition(builder, &target),
            PathTarget::Multi(elements) => {
                let target = element_target(&elements, path)?;
                elements.push_exists_start(builder);
                push_condition(builder, &target)?;
                builder.push("))");
                Ok(())
            }
        },
    }
}

fn push_present(
    builder: &mut QueryBuilder<'_, Postgres>,
    target: &Target,
) -> Result<(), ScimError> {
    match target {
        Target::Column {
            sql,
            column: ColumnType::Text,
            ..
        } => {
            builder.push(format!("({sql} is not null and {sql} <> '')"));
        }
        Target::Column { sql, .. } => {
            builder.push(format!("{sql} is not null"));
        }
        Target::Json { base, .. } => {
            builder.push("coalesce(");
            Target::push_json(builder, base);
            builder
                .push(" not in ('null'::jsonb, '\"\"'::jsonb, '[]'::jsonb, '{}'::jsonb), false)");
        }
    }
    Ok(())
}

/// Escapes `%`, `_` and `\` for a LIKE pattern (PostgreSQL's default escape
/// character is the backslash).
fn escape_like(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for ch in value.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

fn sql_operator(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => "like",
    }
}

fn type_mismatch(op: CompareOp, value: &Value, expected: &str) -> ScimError {
    ScimError::invalid_filter(format!(
        "operator '{}' needs {expected}, got {value}",
        format!("{op:?}").to_lowercase()
    ))
}

fn push_compare(
    builder: &mut QueryBuilder<'_, Postgres>,
    target: &Target,
    op: CompareOp,
    value: &Value,
) -> Result<(), ScimError> {
    if value.is_null() {
        // `eq null` is "not present", `ne null` is "present" (RFC 7644 §3.4.2.2).
        return match op {
            CompareOp::Eq => {
                builder.push("not ");
                push_present(builder, target)
            }
            CompareOp::Ne => push_present(builder, target),
            _ => Err(type_mismatch(op, value, "a non-null value")),
        };
    }
    match target {
        Target::Column {
            sql,
            column,
            case_exact,
        } => push_column_compare(builder, sql, *column, *case_exact, op, value),
        Target::Json {
            base,
            attr_type,
            case_exact,
        } => push_json_compare(builder, base, *attr_type, *case_exact, op, value),
    }
}

/// Pushes `expression operator value` for a text expression, lowering both
/// sides for case-insensitive attributes and building LIKE patterns.
fn push_text_compare(
    builder: &mut QueryBuilder<'_, Postgres>,
    expression: &str,
    case_exact: bool,
    op: CompareOp,
    text: &str,
) {
    let pattern = match op {
        CompareOp::Co => format!("%{}%", escape_like(text)),
        CompareOp::Sw => format!("{}%", escape_like(text)),
        CompareOp::Ew => format!("%{}", escape_like(text)),
        _ => text.to_owned(),
    };
    let lhs = if case_exact {
        expression.to_owned()
    } else {
        format!("lower({expression})")
    };
    if op == CompareOp::Ne {
        builder.push(format!("({expression} is null or {lhs} <> "));
    } else {
        builder.push(format!("{lhs} {} ", sql_operator(op)));
    }
    if case_exact {
        builder.push_bind(pattern);
    } else {
        builder.push("lower(");
        builder.push_bind(pattern);
        builder.push(")");
    }
    if op == CompareOp::Ne {
        builder.push(")");
    }
}

fn push_column_compare(
    builder: &mut QueryBuilder<'_, Postgres>,
    sql: &str,
    column: ColumnType,
    case_exact: bool,
    op: CompareOp,
    value: &Value,
) -> Result<(), ScimError> {
    match column {
        ColumnType::Text => {
            let text = value
                .as_str()
                .ok_or_else(|| type_mismatch(op, value, "a string"))?;
            push_text_compare(builder, sql, case_exact, op, text);
        }
        ColumnType::Uuid => {
            let text = value
                .as_str()
                .ok_or_else(|| type_mismatch(op, value, "a string"))?;
            match (op, Uuid::parse_str(text)) {
                // Equality on the uuid itself uses the index.
                (CompareOp::Eq, Ok(id)) => {
                    builder.push(format!("{sql} = "));
                    builder.push_bind(id);
                }
                (CompareOp::Eq, Err(_)) => {
                    builder.push("false");
                }
                (CompareOp::Ne, Ok(id)) => {
                    builder.push(format!("{sql} <> "));
                    builder.push_bind(id);
                }
                (CompareOp::Ne, Err(_)) => {
                    builder.push("true");
                }
                _ => push_text_compare(builder, &format!("{sql}::text"), false, op, text),
            }
        }
        ColumnType::Boolean => {
            let flag = value
                .as_bool()
                .ok_or_else(|| type_mismatch(op, value, "true or false"))?;
            match op {
                CompareOp::Eq => builder.push(format!("{sql} = ")),
                CompareOp::Ne => builder.push(format!("{sql} is distinct from ")),
                _ => return Err(type_mismatch(op, value, "a string, number or date")),
            };
            builder.push_bind(flag);
        }
        ColumnType::Timestamp => {
            let time = parse_time(op, value)?;
            match op {
                CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
                    return Err(type_mismatch(op, value, "a string attribute"))
                }
                _ => builder.push(format!("{sql} {} ", sql_operator(op))),
            };
            builder.push_bind(time);
        }
    }
    Ok(())
}

fn parse_time(op: CompareOp, value: &Value) -> Result<DateTime<Utc>, ScimError> {
    let text = value
        .as_str()
        .ok_or_else(|| type_mismatch(op, value, "a dateTime string"))?;
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| ScimError::invalid_filter(format!("'{text}' is not an RFC 3339 dateTime")))
}

fn push_json_compare(
    builder: &mut QueryBuilder<'_, Postgres>,
    base: &JsonBase,
    attr_type: AttrType,
    case_exact: bool,
    op: CompareOp,
    value: &Value,
) -> Result<(), ScimError> {
    match attr_type {
        AttrType::Boolean => {
            let flag = value
                .as_bool()
                .ok_or_else(|| type_mismatch(op, value, "true or false"))?;
            match op {
                CompareOp::Eq => builder.push("coalesce("),
                CompareOp::Ne => builder.push("not coalesce("),
                _ => return Err(type_mismatch(op, value, "a string, number or date")),
            };
            Target::push_json(builder, base);
            builder.push(" = to_jsonb(");
            builder.push_bind(flag);
            builder.push("), false)");
        }
        AttrType::Integer | AttrType::Decimal => {
            let number = value
                .as_f64()
                .ok_or_else(|| type_mismatch(op, value, "a number"))?;
            if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
                return Err(type_mismatch(op, value, "a string attribute"));
            }
            builder.push("coalesce(case when jsonb_typeof(");
            Target::push_json(builder, base);
            builder.push(") = 'number' then (");
            Target::push_json(builder, base);
            builder.push(format!(" #>> '{{}}')::float8 {} ", sql_operator(op)));
            builder.push_bind(number);
            builder.push(format!(" end, {})", op == CompareOp::Ne));
        }
        _ => {
            let text = value
                .as_str()
                .ok_or_else(|| type_mismatch(op, value, "a string"))?;
            push_text_compare_json(builder, base, case_exact, op, text);
        }
    }
    Ok(())
}

/// Text comparison on a JSON value: `(json #>> '{}') operator value`.
fn push_text_compare_json(
    builder: &mut QueryBuilder<'_, Postgres>,
    base: &JsonBase,
    case_exact: bool,
    op: CompareOp,
    text: &str,
) {
    let pattern = match op {
        CompareOp::Co => format!("%{}%", escape_like(text)),
        CompareOp::Sw => format!("{}%", escape_like(text)),
        CompareOp::Ew => format!("%{}", escape_like(text)),
        _ => text.to_owned(),
    };
    let wrap = |builder: &mut QueryBuilder<'_, Postgres>| {
        if case_exact {
            builder.push("(");
        } else {
            builder.push("lower(");
        }
        Target::push_json(builder, base);
        builder.push(" #>> '{}')");
    };
    if op == CompareOp::Ne {
        builder.push("coalesce(");
        wrap(builder);
        builder.push(" <> ");
    } else {
        wrap(builder);
        builder.push(format!(" {} ", sql_operator(op)));
    }
    if case_exact {
        builder.push_bind(pattern);
    } else {
        builder.push("lower(");
        builder.push_bind(pattern);
        builder.push(")");
    }
    if op == CompareOp::Ne {
        builder.push(", true)");
    }
}
