//! Helpers that edit attribute values and elements of multi-valued
//! attributes for the PATCH operations in `apply`.

use serde_json::{Map, Value};

use crate::scim::error::ScimError;
use crate::scim::filter::{get_ignore_case, CompareOp, Filter};
use crate::scim::resource::existing_key;
use crate::scim::schema::{self, AttributeDef};

/// Returns the sub-attribute values fixed by a filter made only of `eq`
/// comparisons joined by `and`, e.g. `{"type": "work"}`.
pub(super) fn equality_terms(filter: &Filter) -> Option<Map<String, Value>> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if !value.is_null() => {
            let mut terms = Map::new();
            terms.insert(path.sub_attr.clone()?, value.clone());
            Some(terms)
        }
        Filter::And(left, right) => {
            let mut terms = equality_terms(left)?;
            terms.extend(equality_terms(right)?);
            Some(terms)
        }
        _ => None,
    }
}

/// Sets or, for `None`, removes a sub-attribute of an element object.
pub(super) fn set_sub(element: &mut Value, sub: &str, value: Option<Value>) {
    let Value::Object(object) = element else {
        return;
    };
    if let Some(old) = existing_key(object, sub) {
        object.shift_remove(&old);
    }
    if let Some(value) = value {
        object.insert(sub.to_owned(), value);
    }
}

pub(super) fn drop_if_empty(container: &mut Map<String, Value>, key: &str) {
    let empty = match container.get(key) {
        Some(Value::Object(object)) => object.is_empty(),
        Some(Value::Array(items)) => items.is_empty(),
        _ => false,
    };
    if empty {
        container.shift_remove(key);
    }
}

/// Appends the elements of `new` that are not already present.
pub(super) fn append_unique(container: &mut Map<String, Value>, key: &str, new: Value) {
    let Value::Array(new) = new else {
        return;
    };
    let mut elements = match container.shift_remove(key) {
        Some(Value::Array(elements)) => elements,
        _ => Vec::new(),
    };
    let mut added = Vec::new();
    for element in new {
        if !elements.contains(&element) {
            added.push(elements.len());
            elements.push(element);
        }
    }
    enforce_single_primary(&mut elements, &added);
    if !elements.is_empty() {
        container.insert(key.to_owned(), Value::Array(elements));
    }
}

/// Removes the elements whose `value` sub-attribute equals that of an item
/// of `value` (objects with `value`, or bare strings). An item without
/// `value` removes elements equal to it as a whole.
pub(super) fn remove_by_value(
    container: &mut Map<String, Value>,
    key: &str,
    def: &AttributeDef,
    value: &Value,
) -> Result<(), ScimError> {
    let items = match value {
        Value::Array(items) => items.as_slice(),
        single => std::slice::from_ref(single),
    };
    let case_exact = schema::find_sub_attribute(def, "value").is_some_and(|d| d.case_exact);
    let same = |a: &Value, b: &Value| match (a, b) {
        (Value::String(a), Value::String(b)) if !case_exact => a.to_lowercase() == b.to_lowercase(),
        _ => a == b,
    };
    let value_of = |v: &Value| -> Option<Value> {
        match v {
            Value::Object(object) => get_ignore_case(object, "value").cloned(),
            other => Some(other.clone()),
        }
    };

    let Some(Value::Array(elements)) = container.get_mut(key) else {
        return Ok(());
    };
    elements.retain(|element| {
        !items
            .iter()
            .any(|item| match (value_of(item), value_of(element)) {
                (Some(wanted), Some(actual)) => same(&wanted, &actual),
                _ => item == element,
            })
    });
    drop_if_empty(container, key);
    Ok(())
}

/// Merges the sub-attributes of `normalized` into a single-valued complex
/// attribute, as RFC 7644 §3.5.2.1 and §3.5.2.3 prescribe for both add and
/// replace. Sub-attributes set to null in `raw` are removed.
pub(super) fn merge_complex(
    container: &mut Map<String, Value>,
    key: &str,
    def: &AttributeDef,
    normalized: Value,
    raw: &Value,
) {
    let Value::Object(new) = normalized else {
        return;
    };
    let slot = container
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    if let Value::Object(existing) = slot {
        if let Value::Object(raw) = raw {
            for (raw_key, raw_value) in raw {
                if raw_value.is_null() {
                    let name = schema::find_sub_attribute(def, raw_key)
                        .map_or(raw_key.as_str(), |d| d.name);
                    if let Some(old) = existing_key(existing, name) {
                        existing.shift_remove(&old);
                    }
                }
            }
        }
        for (k, v) in new {
            if let Some(old) = existing_key(existing, &k) {
                existing.shift_remove(&old);
            }
            existing.insert(k, v);
        }
    }
    drop_if_empty(container, key);
}

/// Keeps at most one element with `"primary": true` (RFC 7643 §2.4): when
/// one of the `changed` elements is primary, other elements lose the flag.
pub(super) fn enforce_single_primary(elements: &mut [Value], changed: &[usize]) {
    let is_primary = |v: &Value| v.get("primary") == Some(&Value::Bool(true));
    let winner = changed
        .iter()
        .rev()
        .copied()
        .find(|&i| elements.get(i).is_some_and(is_primary));
    let Some(winner) = winner else {
        return;
    };
    for (index, element) in elements.iter_mut().enumerate() {
        if index != winner && is_primary(element) {
            if let Some(object) = element.as_object_mut() {
                object.insert("primary".into(), Value::Bool(false));
            }
        }
    }
}
