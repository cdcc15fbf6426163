//! Applies one PATCH operation to a resource held as a JSON object.

use serde_json::{Map, Value};

use super::values::{
    append_unique, drop_if_empty, enforce_single_primary, equality_terms, merge_complex,
    remove_by_value, set_sub,
};
use super::{PatchOpKind, PatchOperation};
use crate::scim::error::ScimError;
use crate::scim::filter::Filter;
use crate::scim::path::{self, AttrPath, PatchPath, ResolvedPath};
use crate::scim::resource::{
    container_mut, existing_key, extension_mut, json_type_name, normalize_element, normalize_value,
};
use crate::scim::schema::{self, AttrType, AttributeDef, ResourceKind};

/// Applies `operation` to `resource`, which may be left partly changed on
/// error, so callers work on a copy.
pub(super) fn apply_operation(
    kind: ResourceKind,
    resource: &mut Map<String, Value>,
    operation: &PatchOperation,
) -> Result<(), ScimError> {
    match &operation.path {
        Some(path) if !path.attr.extension && path.attr.attr.eq_ignore_ascii_case("schemas") => {
            // The server derives `schemas` from the attributes present.
            Err(ScimError::mutability(
                "attribute 'schemas' is set by the server and cannot be changed",
            ))
        }
        Some(path) => apply_at_path(resource, operation.op, path, operation.value.as_ref(), true),
        None => apply_without_path(kind, resource, operation.op, operation.value.as_ref()),
    }
}

/// Applies an add or replace whose value is an object of attributes. Each
/// key is applied as if it were the operation's path, except that read-only
/// attributes are skipped silently, because clients such as Okta echo `id`
/// and `meta` back in their full-resource updates.
pub(super) fn apply_without_path(
    kind: ResourceKind,
    resource: &mut Map<String, Value>,
    op: PatchOpKind,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if op == PatchOpKind::Remove {
        return Err(ScimError::no_target("a 'remove' operation needs a 'path'"));
    }
    let attributes = match value {
        Some(Value::Object(attributes)) => attributes,
        other => {
            return Err(ScimError::invalid_value(format!(
                "the value of the '{}' operation without a 'path' must be an object of \
                 attributes, got {}",
                op.as_str(),
                other.map_or("nothing", json_type_name)
            )))
        }
    };

    for (key, item) in attributes {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        match schema::find_schema(kind, key) {
            Some(found) if found.id == kind.core_urn() => {
                // `{"urn:…:core:2.0:User": {...}}` contains plain core attributes.
                let Value::Object(core) = item else {
                    return Err(ScimError::invalid_value(format!(
                        "'{key}' must be an object of attributes, got {}",
                        json_type_name(item)
                    )));
                };
                for (name, core_value) in core {
                    apply_key(kind, resource, op, name, core_value)?;
                }
            }
            Some(found) => apply_extension_object(kind, resource, op, found.id, item)?,
            None => apply_key(kind, resource, op, key, item)?,
        }
    }
    Ok(())
}

/// Applies one key of a value without a path: a plain, dotted or
/// URN-qualified attribute name, or an unknown extension object.
fn apply_key(
    kind: ResourceKind,
    resource: &mut Map<String, Value>,
    op: PatchOpKind,
    key: &str,
    item: &Value,
) -> Result<(), ScimError> {
    match path::resolve(kind, key) {
        Ok(resolved) if resolved.def.is_none() && resolved.extension && item.is_object() => {
            // An extension the server does not model, kept as sent.
            apply_unknown(resource, key, op, Some(item));
            Ok(())
        }
        Ok(resolved) => {
            let path = PatchPath {
                attr: resolved,
                value_filter: None,
                sub_attr: None,
            };
            apply_at_path(resource, op, &path, Some(item), false)
        }
        Err(_) => {
            apply_unknown(resource, key, op, Some(item));
            Ok(())
        }
    }
}

fn apply_extension_object(
    kind: ResourceKind,
    resource: &mut Map<String, Value>,
    op: PatchOpKind,
    urn: &str,
    item: &Value,
) -> Result<(), ScimError> {
    let attributes = match item {
        Value::Null => {
            if op == PatchOpKind::Replace {
                if let Some(key) = existing_key(resource, urn) {
                    resource.shift_remove(&key);
                }
            }
            return Ok(());
        }
        Value::Object(attributes) => attributes,
        other => {
            return Err(ScimError::invalid_value(format!(
                "extension '{urn}' must be an object, got {}",
                json_type_name(other)
            )))
        }
    };

    for (name, attr_value) in attributes {
        let resolved = AttrPath::parse(name).ok().and_then(|mut parsed| {
            parsed.urn = Some(urn.to_owned());
            path::resolve_attr_path(kind, &parsed).ok()
        });
        match resolved {
            Some(resolved) => {
                let path = PatchPath {
                    attr: resolved,
                    value_filter: None,
                    sub_attr: None,
                };
                apply_at_path(resource, op, &path, Some(attr_value), false)?;
            }
            None => {
                if let Some(extension) = extension_mut(resource, urn) {
                    apply_unknown(extension, name, op, Some(attr_value));
                }
            }
        }
    }
    Ok(())
}

/// Applies an operation to an attribute the server does not model: add
/// merges objects and appends new array elements, replace sets, remove
/// deletes.
fn apply_unknown(
    container: &mut Map<String, Value>,
    key: &str,
    op: PatchOpKind,
    value: Option<&Value>,
) {
    let old_key = existing_key(container, key);
    let value = match (op, value) {
        (PatchOpKind::Remove, _) | (_, None) | (_, Some(Value::Null)) => {
            if let Some(old) = old_key {
                container.shift_remove(&old);
            }
            return;
        }
        (_, Some(value)) => value,
    };
    let slot_key = old_key.unwrap_or_else(|| key.to_owned());

    match (op, container.get_mut(&slot_key), value) {
        (PatchOpKind::Add, Some(Value::Object(existing)), Value::Object(new)) => {
            for (k, v) in new {
                existing.insert(k.clone(), v.clone());
            }
        }
        (PatchOpKind::Add, Some(Value::Array(existing)), Value::Array(new)) => {
            for v in new {
                if !existing.contains(v) {
                    existing.push(v.clone());
                }
            }
        }
        _ => {
            container.insert(slot_key, value.clone());
        }
    }
}

/// Applies an operation at an explicit path. `explicit` is false for keys
/// of a value without a path, where read-only attributes are skipped
/// instead of rejected.
pub(super) fn apply_at_path(
    resource: &mut Map<String, Value>,
    op: PatchOpKind,
    path: &PatchPath,
    value: Option<&Value>,
    explicit: bool,
) -> Result<(), ScimError> {
    if path.attr.extension && path.attr.attr.is_empty() {
        // The whole extension object, which only a remove can name.
        resource.retain(|key, _| !key.eq_ignore_ascii_case(&path.attr.urn));
        return Ok(());
    }
    let target = path.target();
    let path_text = path.to_string();
    let read_only = [target.def, target.sub_def]
        .into_iter()
        .flatten()
        .any(AttributeDef::is_read_only);
    if read_only {
        if explicit {
            return Err(ScimError::mutability(format!(
                "attribute '{path_text}' is read-only and cannot be changed"
            )));
        }
        return Ok(());
    }

    // An add or replace with null clears the target, as a remove would.
    let (op, value) = match value {
        Some(Value::Null) if op != PatchOpKind::Remove => (PatchOpKind::Remove, None),
        None if op != PatchOpKind::Remove => {
            return Err(ScimError::invalid_value(format!(
                "the '{}' operation on '{path_text}' needs a 'value'",
                op.as_str()
            )));
        }
        _ => (op, value),
    };

    let Some(container) = container_mut(resource, &path.attr) else {
        return Ok(());
    };
    let edit = Edit {
        op,
        value,
        path_text: &path_text,
        target: &target,
    };
    match (&path.value_filter, &target.sub_attr) {
        (Some(filter), _) => edit.filtered(container, filter),
        (None, Some(_)) => edit.sub_attribute(container),
        (None, None) => edit.whole(container),
    }
}

/// One operation on one attribute, after mutability checks.
struct Edit<'a> {
    op: PatchOpKind,
    /// The value; `None` only for remove.
    value: Option<&'a Value>,
    /// The path as printed in errors.
    path_text: &'a str,
    target: &'a ResolvedPath,
}

impl Edit<'_> {
    /// Returns the canonical key of the attribute, first renaming an
    /// existing key that differs from it only in case.
    fn key(&self, container: &mut Map<String, Value>) -> String {
        let canonical = &self.target.attr;
        if let Some(old) = existing_key(container, canonical) {
            if old != *canonical {
                if let Some(value) = container.shift_remove(&old) {
                    container.insert(canonical.clone(), value);
                }
            }
        }
        canonical.clone()
    }

    /// Normalises the value for the sub-attribute of the target.
    fn sub_value(&self) -> Result<Option<Value>, ScimError> {
        let Some(value) = self.value else {
            return Ok(None);
        };
        match self.target.sub_def {
            Some(sub_def) => normalize_value(sub_def, self.path_text, value.clone()),
            None => Ok((!value.is_null()).then(|| value.clone())),
        }
    }

    fn whole(&self, container: &mut Map<String, Value>) -> Result<(), ScimError> {
        let Some(def) = self.target.def else {
            apply_unknown(container, &self.target.attr, self.op, self.value);
            return Ok(());
        };
        let key = self.key(container);

        if self.op == PatchOpKind::Remove {
            match self.value {
                Some(value) if def.multi_valued && !value.is_null() => {
                    remove_by_value(container, &key, def, value)?;
                }
                _ => {
                    container.shift_remove(&key);
                }
            }
            return Ok(());
        }
        let Some(value) = self.value else {
            return Ok(());
        };

        let Some(normalized) = normalize_value(def, self.path_text, value.clone())? else {
            if self.op == PatchOpKind::Replace {
                container.shift_remove(&key);
            }
            return Ok(());
        };
        if def.multi_valued && self.op == PatchOpKind::Add {
            append_unique(container, &key, normalized);
        } else if def.multi_valued {
            if let Value::Array(mut elements) = normalized {
                // Listed in descending order, so the first primary wins.
                let all: Vec<usize> = (0..elements.len()).rev().collect();
                enforce_single_primary(&mut elements, &all);
                container.insert(key, Value::Array(elements));
            }
        } else if def.attr_type == AttrType::Complex {
            merge_complex(container, &key, def, normalized, value);
        } else {
            container.insert(key, normalized);
        }
        Ok(())
    }

    /// Applies the edit to a sub-attribute: `name.givenName`, or
    /// `emails.value` on every element.
    fn sub_attribute(&self, container: &mut Map<String, Value>) -> Result<(), ScimError> {
        let Some(sub) = self.target.sub_attr.as_deref() else {
            return Ok(());
        };
        let key = self.key(container);
        let new_value = self.sub_value()?;

        match container.get_mut(&key) {
            Some(Value::Array(elements)) => {
                if elements.is_empty() && new_value.is_some() {
                    return Err(self.no_elements());
                }
                for element in elements.iter_mut() {
                    set_sub(element, sub, new_value.clone());
                }
            }
            Some(existing @ Value::Object(_)) => set_sub(existing, sub, new_value),
            _ => {
                if self.target.def.is_some_and(|d| d.multi_valued) && new_value.is_some() {
                    return Err(self.no_elements());
                }
                if let Some(v) = new_value {
                    let mut object = Map::new();
                    object.insert(sub.to_owned(), v);
                    container.insert(key.clone(), Value::Object(object));
                }
            }
        }
        drop_if_empty(container, &key);
        Ok(())
    }

    fn no_elements(&self) -> ScimError {
        ScimError::no_target(format!(
            "attribute '{}' has no values, so '{}' matches nothing",
            self.target.attr, self.path_text
        ))
    }

    /// Applies the edit to the elements selected by a value filter, as in
    /// `emails[type eq "work"]` and `emails[type eq "work"].value`.
    ///
    /// When an add or replace matches no element and the filter is only
    /// `eq` comparisons joined by `and`, a new element is created from those
    /// comparisons plus the value. Identity providers such as Entra ID send
    /// `replace emails[type eq "work"].value` to set a work email that may
    /// not exist yet. Any other filter that matches nothing is a `noTarget`
    /// error, as RFC 7644 §3.5.2.3 requires for replace.
    fn filtered(
        &self,
        container: &mut Map<String, Value>,
        filter: &Filter,
    ) -> Result<(), ScimError> {
        let Some(def) = self.target.def else {
            return Err(ScimError::invalid_path(format!(
                "attribute '{}' is not modelled, so it cannot take a value filter",
                self.target.attr
            )));
        };
        let key = self.key(container);
        let (mut elements, was_single) = match container.shift_remove(&key) {
            Some(Value::Array(elements)) => (elements, false),
            Some(single @ Value::Object(_)) => (vec![single], true),
            _ => (Vec::new(), !def.multi_valued),
        };
        let matched: Vec<usize> = elements
            .iter()
            .enumerate()
            .filter(|(_, element)| filter.matches(element))
            .map(|(index, _)| index)
            .collect();

        let result = self.edit_elements(def, filter, &mut elements, &matched);
        if !elements.is_empty() {
            let stored = match (was_single, elements.len()) {
                (true, 1) => elements.pop().unwrap_or(Value::Null),
                _ => Value::Array(elements),
            };
            container.insert(key, stored);
        }
        result
    }

    fn edit_elements(
        &self,
        def: &AttributeDef,
        filter: &Filter,
        elements: &mut Vec<Value>,
        matched: &[usize],
    ) -> Result<(), ScimError> {
        let sub = self.target.sub_attr.as_deref();

        if self.op == PatchOpKind::Remove {
            match sub {
                None => {
                    let mut index = 0;
                    elements.retain(|_| {
                        let keep = !matched.contains(&index);
                        index += 1;
                        keep
                    });
                }
                Some(sub) => {
                    for (index, element) in elements.iter_mut().enumerate() {
                        if matched.contains(&index) {
                            set_sub(element, sub, None);
                        }
                    }
                }
            }
            return Ok(());
        }

        let replacement = match sub {
            Some(sub) => {
                let mut object = Map::new();
                if let Some(v) = self.sub_value()? {
                    object.insert(sub.to_owned(), v);
                }
                object
            }
            None => {
                let value = self.value.cloned().unwrap_or(Value::Null);
                match normalize_element(def, self.path_text, value)? {
                    Some(Value::Object(object)) => object,
                    _ => Map::new(),
                }
            }
        };

        if matched.is_empty() {
            // Setting a sub-attribute that the filter itself compares, as in
            // `emails[type eq "work"].type`, would create an element that the
            // filter does not select, so that is a noTarget error too.
            let created = equality_terms(filter)
                .filter(|terms| sub.is_none_or(|sub| !terms.contains_key(sub)));
            let Some(mut created) = created else {
                return Err(ScimError::no_target(format!(
                    "no value of '{}' matches the filter in '{}'",
                    self.target.attr, self.path_text
                )));
            };
            created.extend(replacement);
            let created = normalize_element(def, self.path_text, Value::Object(created))?;
            if let Some(created) = created {
                let new_index = elements.len();
                elements.push(created);
                enforce_single_primary(elements, &[new_index]);
            }
            return Ok(());
        }

        for (index, element) in elements.iter_mut().enumerate() {
            if !matched.contains(&index) {
                continue;
            }
            let replace_whole = self.op == PatchOpKind::Replace && sub.is_none();
            match element {
                Value::Object(existing) if !replace_whole => {
                    existing.extend(replacement.clone());
                }
                other => *other = Value::Object(replacement.clone()),
            }
        }
        enforce_single_primary(elements, matched);
        Ok(())
    }
}
