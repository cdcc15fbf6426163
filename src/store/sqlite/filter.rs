//! Compiles a parsed SCIM filter into a SQLite `where` clause, statement for
//! statement the same conditions as the PostgreSQL compiler.
//!
//! Every value is bound, never formatted into the statement; the only text
//! pushed into the SQL comes from this file and from the column expressions
//! of [`crate::store::filter_target`]. JSON values are read with
//! `json_extract` and `json_type` and a bound JSON path. `co`, `sw` and `ew`
//! use `glob`, which is case-sensitive, because SQLite's `like` ignores
//! ASCII case even for case-exact attributes.
//!
//! Case-insensitive equality and ranges use the `case_fold` collation, which
//! folds every script and matches the indexes. NOTE: `co`, `sw` and `ew` on
//! case-insensitive attributes fold only A to Z, because they compare
//! `lower()` forms with `glob`; PostgreSQL folds every letter there.

use serde_json::Value;
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

use super::{id_text, Timestamp, CASE_FOLD};
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
    builder: &mut QueryBuilder<'_, Sqlite>,
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

/// A SQLite JSON path for a key path: `$."key"."key"`. Keys are attribute
/// names and schema URNs from the filter grammar, which never contain a
/// double quote, so quoting each key is enough.
fn json_path<S: AsRef<str>>(keys: &[S]) -> String {
    let mut path = String::from("$");
    for key in keys {
        path.push_str(".\"");
        path.push_str(key.as_ref());
        path.push('"');
    }
    path
}

/// Opens `exists (select 1 from <elements> where (`; the caller closes it
/// with `))`.
fn push_exists_start(builder: &mut QueryBuilder<'_, Sqlite>, elements: &Elements) {
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
            // json_each would also walk the members of an object, so the
            // type check keeps it to arrays.
            builder.push("exists (select 1 from json_each(r.resource, ");
            builder.push_bind(json_path(path));
            builder.push(") as el where json_type(r.resource, ");
            builder.push_bind(json_path(path));
            builder.push(") = 'array' and (");
        }
    }
}

/// Pushes `function(document, path)` for the JSON value at `base`, where
/// `function` is `json_extract` (its SQL value) or `json_type` (its JSON
/// type, null when absent). An array element that is not an object has no
/// members, so the call gives null for it.
pub(super) fn push_json(builder: &mut QueryBuilder<'_, Sqlite>, function: &str, base: &JsonBase) {
    match base {
        JsonBase::Resource(path) => {
            builder.push(format!("{function}(r.resource, "));
            builder.push_bind(json_path(path));
            builder.push(")");
        }
        JsonBase::Element(name) => {
            builder.push(format!(
                "(case when el.type = 'object' then {function}(el.value, "
            ));
            builder.push_bind(json_path(&[name]));
            builder.push(") end)");
        }
    }
}

fn push_filter(
    builder: &mut QueryBuilder<'_, Sqlite>,
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
    builder: &mut QueryBuilder<'_, Sqlite>,
    scope: &Scope,
    path: &ResolvedPath,
    push_condition: F,
) -> Result<(), ScimError>
where
    F: FnOnce(&mut QueryBuilder<'_, Sqlite>, &Target) -> Result<(), ScimError>,
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

fn push_present(builder: &mut QueryBuilder<'_, Sqlite>, target: &Target) -> Result<(), ScimError> {
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
            // Absent, null, "", [] and {} are not present, as on PostgreSQL.
            // json_extract returns arrays and objects as minified JSON text.
            builder.push("coalesce(case coalesce(");
            push_json(builder, "json_type", base);
            builder.push(", 'null') when 'null' then false when 'text' then ");
            push_json(builder, "json_extract", base);
            builder.push(" <> '' when 'array' then ");
            push_json(builder, "json_extract", base);
            builder.push(" <> '[]' when 'object' then ");
            push_json(builder, "json_extract", base);
            builder.push(" <> '{}' else true end, false)");
        }
    }
    Ok(())
}

/// Escapes the GLOB wildcards `*`, `?` and `[` by enclosing each in a
/// character class, the only escape GLOB has.
fn escape_glob(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for ch in value.chars() {
        if matches!(ch, '*' | '?' | '[') {
            out.push('[');
            out.push(ch);
            out.push(']');
        } else {
            out.push(ch);
        }
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
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => "glob",
    }
}

/// The bound right-hand side of a text comparison: a GLOB pattern for
/// `co`, `sw` and `ew`, the text itself otherwise.
fn text_operand(op: CompareOp, text: &str) -> String {
    match op {
        CompareOp::Co => format!("*{}*", escape_glob(text)),
        CompareOp::Sw => format!("{}*", escape_glob(text)),
        CompareOp::Ew => format!("*{}", escape_glob(text)),
        _ => text.to_owned(),
    }
}

fn push_compare(
    builder: &mut QueryBuilder<'_, Sqlite>,
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
/// sides for case-insensitive attributes and building GLOB patterns.
fn push_text_compare(
    builder: &mut QueryBuilder<'_, Sqlite>,
    expression: &str,
    case_exact: bool,
    op: CompareOp,
    text: &str,
) {
    if !case_exact && !op.is_substring() {
        push_case_folded_compare(builder, expression, op, text);
        return;
    }
    let operand = text_operand(op, text);
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
        builder.push_bind(operand);
    } else {
        builder.push("lower(");
        builder.push_bind(operand);
        builder.push(")");
    }
    if op == CompareOp::Ne {
        builder.push(")");
    }
}

fn push_column_compare(
    builder: &mut QueryBuilder<'_, Sqlite>,
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
                // Equality on the stored (lowercase) text uses the index.
                (CompareOp::Eq, Ok(id)) => {
                    builder.push(format!("{sql} = "));
                    builder.push_bind(id_text(id));
                }
                (CompareOp::Eq, Err(_)) => {
                    builder.push("false");
                }
                (CompareOp::Ne, Ok(id)) => {
                    builder.push(format!("{sql} <> "));
                    builder.push_bind(id_text(id));
                }
                (CompareOp::Ne, Err(_)) => {
                    builder.push("true");
                }
                _ => push_text_compare(builder, sql, false, op, text),
            }
        }
        ColumnType::Boolean => {
            let flag = value
                .as_bool()
                .ok_or_else(|| type_mismatch(op, value, "true or false"))?;
            match op {
                CompareOp::Eq => builder.push(format!("{sql} = ")),
                CompareOp::Ne => builder.push(format!("{sql} is not ")),
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
            builder.push_bind(Timestamp(time));
        }
    }
    Ok(())
}

fn push_json_compare(
    builder: &mut QueryBuilder<'_, Sqlite>,
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
            // json_type names the two booleans 'true' and 'false'.
            push_json(builder, "json_type", base);
            builder.push(" = ");
            builder.push_bind(if flag { "true" } else { "false" });
            builder.push(", false)");
        }
        AttrType::Integer | AttrType::Decimal => {
            let number = value
                .as_f64()
                .ok_or_else(|| type_mismatch(op, value, "a number"))?;
            if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
                return Err(type_mismatch(op, value, "a string attribute"));
            }
            builder.push("coalesce(case when ");
            push_json(builder, "json_type", base);
            builder.push(" in ('integer', 'real') then ");
            push_json(builder, "json_extract", base);
            builder.push(format!(" {} ", sql_operator(op)));
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

/// Pushes `expression operator value` compared with the `case_fold`
/// collation, for equality and ranges on case-insensitive text.
fn push_case_folded_compare(
    builder: &mut QueryBuilder<'_, Sqlite>,
    expression: &str,
    op: CompareOp,
    text: &str,
) {
    if op == CompareOp::Ne {
        builder.push(format!("({expression} is null or {expression} <> "));
    } else {
        builder.push(format!("{expression} {} ", sql_operator(op)));
    }
    builder.push_bind(text.to_owned());
    builder.push(format!(" collate {CASE_FOLD}"));
    if op == CompareOp::Ne {
        builder.push(")");
    }
}

/// Text comparison on a JSON value: `json_extract(...) operator value`.
fn push_text_compare_json(
    builder: &mut QueryBuilder<'_, Sqlite>,
    base: &JsonBase,
    case_exact: bool,
    op: CompareOp,
    text: &str,
) {
    if !case_exact && !op.is_substring() {
        if op == CompareOp::Ne {
            builder.push("coalesce(");
            push_json(builder, "json_extract", base);
            builder.push(" <> ");
            builder.push_bind(text.to_owned());
            builder.push(format!(" collate {CASE_FOLD}, true)"));
        } else {
            push_json(builder, "json_extract", base);
            builder.push(format!(" {} ", sql_operator(op)));
            builder.push_bind(text.to_owned());
            builder.push(format!(" collate {CASE_FOLD}"));
        }
        return;
    }
    let operand = text_operand(op, text);
    let wrap = |builder: &mut QueryBuilder<'_, Sqlite>| {
        if case_exact {
            builder.push("(");
        } else {
            builder.push("lower(");
        }
        push_json(builder, "json_extract", base);
        builder.push(")");
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
        builder.push_bind(operand);
    } else {
        builder.push("lower(");
        builder.push_bind(operand);
        builder.push(")");
    }
    if op == CompareOp::Ne {
        builder.push(", true)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_path_quotes_every_key() {
        let urn = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        assert_eq!(
            json_path(&[urn, "manager", "value"]),
            format!("$.\"{urn}\".\"manager\".\"value\"")
        );
    }

    #[test]
    fn glob_wildcards_are_escaped() {
        assert_eq!(escape_glob("a*b?c[d]"), "a[*]b[?]c[[]d]");
        assert_eq!(text_operand(CompareOp::Co, "x*"), "*x[*]*");
        assert_eq!(text_operand(CompareOp::Sw, "x"), "x*");
        assert_eq!(text_operand(CompareOp::Ew, "x"), "*x");
        assert_eq!(text_operand(CompareOp::Eq, "x*"), "x*");
    }
}
