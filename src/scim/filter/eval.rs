//! In-memory evaluation of filters against JSON resources and against
//! elements of multi-valued attributes.

use std::cmp::Ordering;

use chrono::DateTime;
use serde_json::{Map, Value};

use super::{CompareOp, Filter};
use crate::scim::path::ResolvedPath;
use crate::scim::schema::{AttrType, AttributeDef};

/// Looks up `key` in `object`, exact spelling first, then ignoring ASCII
/// case, because resources may hold attributes the server does not model
/// and therefore did not canonicalise.
pub(crate) fn get_ignore_case<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn field<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value.as_object().and_then(|o| get_ignore_case(o, key))
}

/// Pushes `value` into `out`, flattening one level of arrays, because a
/// comparison on a multi-valued attribute matches if any value matches.
fn push_flat<'a>(out: &mut Vec<&'a Value>, value: &'a Value) {
    match value {
        Value::Array(items) => out.extend(items.iter()),
        other => out.push(other),
    }
}

/// Returns the values at `path` inside a whole resource.
fn resource_values<'a>(resource: &'a Value, path: &ResolvedPath) -> Vec<&'a Value> {
    let container = if path.extension {
        field(resource, &path.urn)
    } else {
        Some(resource)
    };
    let Some(attr_value) = container.and_then(|c| field(c, &path.attr)) else {
        return Vec::new();
    };

    let mut values = Vec::new();
    push_flat(&mut values, attr_value);
    match &path.sub_attr {
        None => values,
        Some(sub) => {
            let mut subs = Vec::new();
            for element in values {
                if let Some(sub_value) = field(element, sub) {
                    push_flat(&mut subs, sub_value);
                }
            }
            subs
        }
    }
}

/// Returns the values at `path` inside one element of a multi-valued
/// attribute: the sub-attribute's value, or the element itself.
fn element_values<'a>(element: &'a Value, path: &ResolvedPath) -> Vec<&'a Value> {
    let mut values = Vec::new();
    match &path.sub_attr {
        Some(sub) => {
            if let Some(sub_value) = field(element, sub) {
                push_flat(&mut values, sub_value);
            }
        }
        None => push_flat(&mut values, element),
    }
    values
}

/// Returns true for a value that `pr` counts as present: not null and not
/// an empty string, array or object.
fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(is_present),
        Value::Object(map) => !map.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

fn compare_numbers(actual: &Value, expected: &Value) -> Option<Ordering> {
    if let (Some(a), Some(b)) = (actual.as_i64(), expected.as_i64()) {
        return Some(a.cmp(&b));
    }
    if let (Some(a), Some(b)) = (actual.as_u64(), expected.as_u64()) {
        return Some(a.cmp(&b));
    }
    actual.as_f64()?.partial_cmp(&expected.as_f64()?)
}

fn ordering_matches(op: CompareOp, ordering: Ordering) -> bool {
    match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Ne => ordering != Ordering::Equal,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn compare_strings(actual: &str, op: CompareOp, expected: &str, case_exact: bool) -> bool {
    let (actual, expected) = if case_exact {
        (actual.to_owned(), expected.to_owned())
    } else {
        (actual.to_lowercase(), expected.to_lowercase())
    };
    match op {
        CompareOp::Co => actual.contains(&expected),
        CompareOp::Sw => actual.starts_with(&expected),
        CompareOp::Ew => actual.ends_with(&expected),
        _ => ordering_matches(op, actual.as_str().cmp(expected.as_str())),
    }
}

/// Compares one actual value with the filter value. Values of different
/// JSON types never match.
fn compare_one(
    actual: &Value,
    op: CompareOp,
    expected: &Value,
    def: Option<&AttributeDef>,
) -> bool {
    let is_date = def.is_some_and(|d| d.attr_type == AttrType::DateTime);
    match (actual, expected) {
        (Value::String(a), Value::String(b)) if is_date => {
            match (
                DateTime::parse_from_rfc3339(a),
                DateTime::parse_from_rfc3339(b),
            ) {
                (Ok(a), Ok(b)) => ordering_matches(op, a.cmp(&b)),
                _ => false,
            }
        }
        (Value::String(a), Value::String(b)) => {
            let case_exact = def.is_some_and(|d| d.case_exact);
            compare_strings(a, op, b, case_exact)
        }
        (Value::Number(_), Value::Number(_)) => {
            compare_numbers(actual, expected).is_some_and(|o| ordering_matches(op, o))
        }
        (Value::Bool(a), Value::Bool(b)) => match op {
            CompareOp::Eq => a == b,
            CompareOp::Ne => a != b,
            _ => false,
        },
        _ => false,
    }
}

/// Applies a comparison to the values found at its path. `ne` is the
/// negation of `eq`, so an absent attribute is "not equal" to any value.
fn compare_values(
    values: &[&Value],
    op: CompareOp,
    expected: &Value,
    def: Option<&AttributeDef>,
) -> bool {
    let present: Vec<&Value> = values.iter().copied().filter(|v| is_present(v)).collect();
    if expected.is_null() {
        return match op {
            CompareOp::Eq => present.is_empty(),
            _ => !present.is_empty(),
        };
    }
    if op == CompareOp::Ne {
        return !present
            .iter()
            .any(|v| compare_one(v, CompareOp::Eq, expected, def));
    }
    present.iter().any(|v| compare_one(v, op, expected, def))
}

impl Filter {
    /// Evaluates a value filter against one element of a multi-valued
    /// complex attribute, e.g. `{"type": "work", "value": "a@b"}` for
    /// `type eq "work"`.
    ///
    /// Paths are looked up by their sub-attribute name. Strings compare
    /// case-insensitively unless the attribute is caseExact, dateTimes as
    /// instants, and numbers numerically.
    pub fn matches(&self, element: &Value) -> bool {
        match self {
            Filter::Compare { path, op, value } => compare_values(
                &element_values(element, path),
                *op,
                value,
                path.target_def(),
            ),
            Filter::Present(path) => element_values(element, path).into_iter().any(is_present),
            Filter::And(left, right) => left.matches(element) && right.matches(element),
            Filter::Or(left, right) => left.matches(element) || right.matches(element),
            Filter::Not(inner) => !inner.matches(element),
            Filter::ValuePath { attr, filter } => field(element, &attr.attr)
                .map(|v| {
                    let mut items = Vec::new();
                    push_flat(&mut items, v);
                    items
                })
                .unwrap_or_default()
                .into_iter()
                .any(|item| filter.matches(item)),
        }
    }

    /// Evaluates the filter against a whole resource, with attribute names
    /// looked up ignoring case and extension attributes inside their
    /// extension object.
    pub fn matches_resource(&self, resource: &Value) -> bool {
        match self {
            Filter::Compare { path, op, value } => compare_values(
                &resource_values(resource, path),
                *op,
                value,
                path.target_def(),
            ),
            Filter::Present(path) => resource_values(resource, path).into_iter().any(is_present),
            Filter::And(left, right) => {
                left.matches_resource(resource) && right.matches_resource(resource)
            }
            Filter::Or(left, right) => {
                left.matches_resource(resource) || right.matches_resource(resource)
            }
            Filter::Not(inner) => !inner.matches_resource(resource),
            Filter::ValuePath { attr, filter } => resource_values(resource, attr)
                .into_iter()
                .any(|element| filter.matches(element)),
        }
    }
}
