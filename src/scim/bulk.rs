//! Bulk requests (RFC 7644 §3.7): parsing, limits and `bulkId` references.

use std::collections::HashMap;

use serde_json::Value;

use super::error::ScimError;

/// `BulkRequest` message URN.
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// `BulkResponse` message URN.
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
/// Maximum operations in one request, advertised as `bulk.maxOperations`.
pub const MAX_OPERATIONS: usize = 1000;

/// HTTP method of a bulk operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkMethod {
    /// Create.
    Post,
    /// Replace.
    Put,
    /// Modify.
    Patch,
    /// Delete.
    Delete,
}

impl BulkMethod {
    /// Returns the method name in upper case, as responses carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            BulkMethod::Post => "POST",
            BulkMethod::Put => "PUT",
            BulkMethod::Patch => "PATCH",
            BulkMethod::Delete => "DELETE",
        }
    }
}

/// One operation of a bulk request.
#[derive(Clone, Debug, PartialEq)]
pub struct BulkOperation {
    /// Method.
    pub method: BulkMethod,
    /// Client-chosen id that later operations may reference as `bulkId:<id>`.
    pub bulk_id: Option<String>,
    /// Entity tag for `If-Match`.
    pub version: Option<String>,
    /// Path relative to the SCIM base, such as `/Users` or `/Groups/<id>`.
    pub path: String,
    /// Body of the operation, for POST, PUT and PATCH.
    pub data: Option<Value>,
}

/// A parsed bulk request.
#[derive(Clone, Debug, PartialEq)]
pub struct BulkRequest {
    /// Stop after this many errors; `None` means process every operation.
    pub fail_on_errors: Option<u64>,
    /// The operations in request order.
    pub operations: Vec<BulkOperation>,
}

fn field<'a>(object: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

fn parse_operation(index: usize, value: &Value) -> Result<BulkOperation, ScimError> {
    let at = |detail: String| ScimError::invalid_syntax(format!("Operations[{index}]: {detail}"));
    let object = value
        .as_object()
        .ok_or_else(|| at("an operation must be an object".into()))?;
    let method = match field(object, "method").and_then(Value::as_str) {
        Some(name) if name.eq_ignore_ascii_case("POST") => BulkMethod::Post,
        Some(name) if name.eq_ignore_ascii_case("PUT") => BulkMethod::Put,
        Some(name) if name.eq_ignore_ascii_case("PATCH") => BulkMethod::Patch,
        Some(name) if name.eq_ignore_ascii_case("DELETE") => BulkMethod::Delete,
        Some(name) => {
            return Err(at(format!(
                "unknown method '{name}': expected POST, PUT, PATCH or DELETE"
            )))
        }
        None => return Err(at("'method' is missing".into())),
    };
    let path = field(object, "path")
        .and_then(Value::as_str)
        .filter(|path| path.starts_with('/'))
        .ok_or_else(|| at("'path' must be a string starting with '/', such as \"/Users\"".into()))?
        .to_owned();
    let bulk_id = match field(object, "bulkId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if !id.is_empty() => Some(id.clone()),
        Some(other) => {
            return Err(at(format!(
                "'bulkId' must be a non-empty string, got {other}"
            )))
        }
    };
    if method == BulkMethod::Post && bulk_id.is_none() {
        return Err(at("a POST operation needs a 'bulkId'".into()));
    }
    let version = field(object, "version")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let data = field(object, "data")
        .filter(|data| !data.is_null())
        .cloned();
    if method != BulkMethod::Delete && data.is_none() {
        return Err(at(format!("a {} operation needs 'data'", method.as_str())));
    }
    Ok(BulkOperation {
        method,
        bulk_id,
        version,
        path,
        data,
    })
}

/// Parses a `BulkRequest` body. More than [`MAX_OPERATIONS`] operations is
/// a 413 error; other problems are `invalidSyntax`.
pub fn parse_bulk_request(body: &Value) -> Result<BulkRequest, ScimError> {
    let object = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the bulk request must be a JSON object"))?;
    let schemas_ok = field(object, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|schemas| {
            schemas
                .iter()
                .any(|schema| schema.as_str() == Some(BULK_REQUEST))
        });
    if !schemas_ok {
        return Err(ScimError::invalid_syntax(format!(
            "'schemas' must contain '{BULK_REQUEST}'"
        )));
    }
    let operations = field(object, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("'Operations' must be an array"))?;
    if operations.len() > MAX_OPERATIONS {
        return Err(ScimError {
            status: 413,
            scim_type: None,
            detail: format!(
                "the bulk request has {} operations; the maximum is {MAX_OPERATIONS}",
                operations.len()
            ),
        });
    }
    let fail_on_errors = match field(object, "failOnErrors") {
        None | Some(Value::Null) => None,
        Some(value) => Some(value.as_u64().filter(|n| *n > 0).ok_or_else(|| {
            ScimError::invalid_syntax(format!(
                "'failOnErrors' must be a positive integer, got {value}"
            ))
        })?),
    };
    let operations = operations
        .iter()
        .enumerate()
        .map(|(index, operation)| parse_operation(index, operation))
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = std::collections::HashSet::new();
    for operation in &operations {
        if let Some(id) = &operation.bulk_id {
            if !seen.insert(id.as_str()) {
                return Err(ScimError::invalid_syntax(format!(
                    "bulkId '{id}' is used twice"
                )));
            }
        }
    }
    Ok(BulkRequest {
        fail_on_errors,
        operations,
    })
}

const PREFIX: &str = "bulkId:";

/// Returns the id of a `bulkId:<id>` reference: a whole string, or the last
/// segment of a path, with a non-empty id without whitespace or '/'.
fn reference_id(text: &str) -> Option<&str> {
    let id = match text.strip_prefix(PREFIX) {
        Some(id) => id,
        None => {
            let position = text.rfind(&format!("/{PREFIX}"))?;
            &text[position + 1 + PREFIX.len()..]
        }
    };
    let valid = !id.is_empty() && !id.contains('/') && !id.chars().any(char::is_whitespace);
    valid.then_some(id)
}

/// Collects the `bulkId` reference in a string, if it is one.
fn references_in(text: &str, out: &mut Vec<String>) {
    if let Some(id) = reference_id(text) {
        out.push(id.to_owned());
    }
}

/// Lists the `bulkId` references of an operation (in its path and data).
pub fn references(operation: &BulkOperation) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(text) => references_in(text, out),
            Value::Array(items) => items.iter().for_each(|item| walk(item, out)),
            Value::Object(fields) => fields.values().for_each(|item| walk(item, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    references_in(&operation.path, &mut out);
    if let Some(data) = &operation.data {
        walk(data, &mut out);
    }
    out
}

/// Replaces every resolvable `bulkId:<id>` with the created resource id.
pub fn substitute(operation: &BulkOperation, created: &HashMap<String, String>) -> BulkOperation {
    fn replace(text: &str, created: &HashMap<String, String>) -> String {
        match reference_id(text).and_then(|bulk_id| created.get(bulk_id)) {
            Some(id) => {
                let prefix_len = text.len() - reference_id(text).map_or(0, str::len) - PREFIX.len();
                format!("{}{id}", &text[..prefix_len])
            }
            None => text.to_owned(),
        }
    }
    fn walk(value: &Value, created: &HashMap<String, String>) -> Value {
        match value {
            Value::String(text) => Value::String(replace(text, created)),
            Value::Array(items) => {
                Value::Array(items.iter().map(|item| walk(item, created)).collect())
            }
            Value::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(key, item)| (key.clone(), walk(item, created)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    BulkOperation {
        path: replace(&operation.path, created),
        data: operation.data.as_ref().map(|data| walk(data, created)),
        ..operation.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(operations: Value) -> Value {
        json!({"schemas": [BULK_REQUEST], "Operations": operations})
    }

    #[test]
    fn parse_operations() {
        let body = request(json!([
            {"method": "post", "path": "/Users", "bulkId": "a", "data": {"userName": "x"}},
            {"method": "DELETE", "path": "/Users/123", "version": "W/\"2\""}
        ]));
        let parsed = parse_bulk_request(&body).unwrap();
        assert_eq!(parsed.operations.len(), 2);
        assert_eq!(parsed.operations[0].method, BulkMethod::Post);
        assert_eq!(parsed.operations[1].version.as_deref(), Some("W/\"2\""));
        assert_eq!(parsed.fail_on_errors, None);
    }

    #[test]
    fn parse_errors() {
        let cases = [
            json!({"Operations": []}),
            request(json!([{"method": "GET", "path": "/Users"}])),
            request(json!([{"method": "POST", "path": "/Users", "data": {}}])),
            request(json!([{"method": "PUT", "path": "/Users/1"}])),
            request(json!([{"method": "DELETE", "path": "Users/1"}])),
            request(json!([
                {"method": "POST", "path": "/Users", "bulkId": "a", "data": {}},
                {"method": "POST", "path": "/Users", "bulkId": "a", "data": {}}
            ])),
        ];
        for case in cases {
            let err = parse_bulk_request(&case).unwrap_err();
            assert_eq!(err.status, 400, "{case}");
        }
    }

    #[test]
    fn too_many_operations_is_413() {
        let operations: Vec<Value> = (0..=MAX_OPERATIONS)
            .map(|_| json!({"method": "DELETE", "path": "/Users/1"}))
            .collect();
        let err = parse_bulk_request(&request(Value::Array(operations))).unwrap_err();
        assert_eq!(err.status, 413);
    }

    #[test]
    fn references_and_substitution() {
        let operation = BulkOperation {
            method: BulkMethod::Post,
            bulk_id: Some("g".into()),
            version: None,
            path: "/Groups".into(),
            data: Some(
                json!({"displayName": "bulkId:not-a-ref here", "members": [{"value": "bulkId:u1"}, {"value": "bulkId:u2"}]}),
            ),
        };
        assert_eq!(
            references(&operation),
            vec!["u1".to_string(), "u2".to_string()]
        );
        let created = HashMap::from([("u1".to_string(), "id-1".to_string())]);
        let substituted = substitute(&operation, &created);
        assert_eq!(
            substituted.data.as_ref().unwrap()["members"][0]["value"],
            "id-1"
        );
        assert_eq!(
            substituted.data.as_ref().unwrap()["members"][1]["value"],
            "bulkId:u2"
        );

        let patch = BulkOperation {
            method: BulkMethod::Patch,
            bulk_id: None,
            version: None,
            path: "/Groups/bulkId:g".into(),
            data: Some(json!({})),
        };
        assert_eq!(references(&patch), vec!["g".to_string()]);
        let created = HashMap::from([("g".to_string(), "gid".to_string())]);
        assert_eq!(substitute(&patch, &created).path, "/Groups/gid");
    }
}
