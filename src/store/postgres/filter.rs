//! Compiles a parsed SCIM filter into a PostgreSQL `where` clause.
//!
//! Every value is bound, never formatted into the statement; the only text
//! pushed into the SQL comes from this file. Indexed columns serve the
//! attributes identity providers look up (`userName`, `externalId`,
//! `displayName`, `emails.value`, `members.value`, `meta.*`); any other
//! modelled attribute is read from the stored JSON.

use serde_json::Value;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use crate::scim::error::ScimError;
use crate::scim::filter::{CompareOp, Filter};
use crate::scim::path::ResolvedPath;
use crate::scim::schema::{AttrType, ResourceKind};
use crate::store::filter_target::{
    element_target, parse_time, resource_target, type_mismatch, ColumnType, Elements, JsonBase,
    PathTarget, Scope, Target,
};

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

/// Opens `exists (select 1 from <elements> where (`; the caller closes it
/// with `))`.
fn push_exists_start(builder: &mut QueryBuilder<'_, Postgres>, elements: &Elements) {
    match elements {
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
            builder.push(
                "exists (select 1 from jsonb_array_elements(case when jsonb_typeof(r.resource #> ",
            );
            builder.push_bind(path.clone());
            builder.push(") = 'array' then r.resource #> ");
            builder.push_bind(path.clone());
            builder.push(" else '[]'::jsonb end) as el where (");
        }
    }
}

/// Pushes the JSON value at `base` as a `jsonb` expression.
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
                    push_exists_start(builder, &elements);
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
                push_exists_start(builder, &elements);
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
            push_json(builder, base);
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
            push_json(builder, base);
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
            push_json(builder, base);
            builder.push(") = 'number' then (");
            push_json(builder, base);
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
        push_json(builder, base);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::parse_filter;
    use proptest::prelude::*;

    /// Compiles a filter of `kind` into the `where` fragment after the
    /// directory condition.
    fn compile(kind: ResourceKind, filter: &str) -> String {
        let filter = parse_filter(kind, filter).unwrap();
        let mut builder = QueryBuilder::<Postgres>::new("where true");
        push_where(&mut builder, kind, Some(&filter)).unwrap();
        builder.sql().to_owned()
    }

    #[test]
    fn compile_indexed_lookups() {
        let cases = [
            ("userName eq \"a\"", " and (lower(r.user_name) = lower($1))"),
            ("externalId eq \"a\"", " and (r.external_id = $1)"),
            (
                "meta.lastModified gt \"2026-01-01T00:00:00Z\"",
                " and (r.last_modified > $1)",
            ),
            (
                "emails.value eq \"a\"",
                " and (exists (select 1 from user_emails e where e.directory_id = r.directory_id and e.user_id = r.id and (lower(e.value) = lower($1))))",
            ),
        ];
        for (filter, expected) in cases {
            let sql = compile(ResourceKind::User, filter);
            assert_eq!(sql, format!("where true{expected}"), "{filter}");
        }
        let sql = compile(
            ResourceKind::Group,
            "members.value eq \"01a24000-0000-7000-8000-000000000000\"",
        );
        assert!(sql.ends_with("and (m.member_id = $1)))"), "{sql}");
    }

    #[test]
    fn compile_precedence_and_not() {
        let sql = compile(
            ResourceKind::User,
            "userName eq \"a\" or not (active eq true) and externalId pr",
        );
        assert!(
            sql.ends_with(
                " and ((lower(r.user_name) = lower($1) or (not coalesce((coalesce((r.resource #> $2) = to_jsonb($3), false)), false) and (r.external_id is not null and r.external_id <> ''))))"
            ),
            "{sql}"
        );
    }

    #[test]
    fn compile_rejects_unfilterable() {
        for filter in ["meta.version eq \"W/\\\"1\\\"\"", "emails.display eq \"x\""] {
            let parsed = parse_filter(ResourceKind::User, filter).unwrap();
            let mut builder = QueryBuilder::<Postgres>::new("");
            let err = push_where(&mut builder, ResourceKind::User, Some(&parsed)).unwrap_err();
            assert_eq!(err.status, 400, "{filter}");
            assert!(
                err.detail.contains("not supported"),
                "{filter}: {}",
                err.detail
            );
        }
    }

    proptest! {
        /// Whatever a client puts in a value, it is bound, never spliced
        /// into the SQL text.
        #[test]
        fn values_never_reach_sql(value in "[a-zA-Z0-9 '\";%_()\\\\-]{1,24}", op in prop::sample::select(vec!["eq", "ne", "co", "sw", "ew", "gt", "le"])) {
            let marker = format!("zq{value}");
            let quoted = serde_json::to_string(&marker).unwrap();
            for attribute in ["userName", "title", "name.familyName", "emails.value", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"] {
                let filter = format!("{attribute} {op} {quoted}");
                let sql = compile(ResourceKind::User, &filter);
                prop_assert!(!sql.contains("zq"), "{} leaked into {}", marker, sql);
            }
        }
    }
}
