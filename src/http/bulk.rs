//! `POST /Bulk` (RFC 7644 §3.7): many operations in one request, each
//! applied as its single-request form would be, in its own transaction.

use std::collections::{HashMap, HashSet};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};
use uuid::Uuid;

use super::error::ApiError;
use super::extract::{parse_if_match_value, BaseUrl, ScimAuth, ScimJson};
use super::response::scim_json;
use super::AppState;
use crate::scim::bulk::{
    parse_bulk_request, references, substitute, BulkMethod, BulkOperation, BULK_RESPONSE,
};
use crate::scim::error::ScimError;
use crate::scim::patch::parse_patch_request;
use crate::scim::render::etag;
use crate::scim::resource::{normalize_resource, take_members};
use crate::scim::schema::ResourceKind;
use crate::store::{DirectoryId, IfMatch, PatchResponse};

/// Result of a successful operation.
struct Outcome {
    status: StatusCode,
    id: Uuid,
    version: Option<i64>,
}

/// Splits an operation path into resource type and optional id.
fn parse_path(path: &str) -> Result<(ResourceKind, Option<&str>), ApiError> {
    let trimmed = path.trim_matches('/');
    let (collection, id) = match trimmed.split_once('/') {
        Some((collection, id)) => (collection, Some(id)),
        None => (trimmed, None),
    };
    let kind = if collection.eq_ignore_ascii_case("Users") {
        ResourceKind::User
    } else if collection.eq_ignore_ascii_case("Groups") {
        ResourceKind::Group
    } else {
        return Err(ScimError::invalid_value(format!(
            "path '{path}' names no resource type: use /Users or /Groups"
        ))
        .into());
    };
    Ok((kind, id))
}

fn parse_id(kind: ResourceKind, id: Option<&str>, path: &str) -> Result<Uuid, ApiError> {
    let id = id.ok_or_else(|| {
        ApiError::from(ScimError::invalid_value(format!(
            "path '{path}' needs a resource id"
        )))
    })?;
    Uuid::parse_str(id).map_err(|_| ApiError::not_found(kind, id))
}

/// Runs one operation, whose `bulkId` references are already resolved.
async fn execute(
    state: &AppState,
    directory: DirectoryId,
    operation: &BulkOperation,
) -> Result<Outcome, ApiError> {
    let store = &state.store;
    let (kind, id) = parse_path(&operation.path)?;
    let if_match = operation
        .version
        .as_deref()
        .map_or(IfMatch::None, parse_if_match_value);
    let data = operation.data.clone().unwrap_or(Value::Null);
    let path = operation.path.as_str();
    match operation.method {
        BulkMethod::Post => {
            if id.is_some() {
                return Err(ScimError::invalid_value(format!(
                    "POST path '{path}' must be a collection such as /Users"
                ))
                .into());
            }
            let mut attributes = normalize_resource(kind, data)?;
            let created = match kind {
                ResourceKind::User => store.create_user(directory, attributes).await?,
                ResourceKind::Group => {
                    let members = take_members(&mut attributes)?;
                    store.create_group(directory, attributes, members).await?
                }
            };
            Ok(Outcome {
                status: StatusCode::CREATED,
                id: created.id,
                version: Some(created.version),
            })
        }
        BulkMethod::Put => {
            let resource_id = parse_id(kind, id, path)?;
            let has_members = data
                .as_object()
                .is_some_and(|fields| fields.keys().any(|key| key.eq_ignore_ascii_case("members")));
            let mut attributes = normalize_resource(kind, data)?;
            let replaced = match kind {
                ResourceKind::User => {
                    store
                        .replace_user(directory, resource_id, attributes, &if_match)
                        .await
                }
                ResourceKind::Group => {
                    let members = take_members(&mut attributes)?;
                    let members = has_members.then_some(members);
                    store
                        .replace_group(directory, resource_id, attributes, members, &if_match)
                        .await
                }
            }
            .map_err(|err| ApiError::from_store(err, kind, &resource_id.to_string()))?;
            Ok(Outcome {
                status: StatusCode::OK,
                id: replaced.id,
                version: Some(replaced.version),
            })
        }
        BulkMethod::Patch => {
            let resource_id = parse_id(kind, id, path)?;
            let operations = parse_patch_request(kind, &data)?;
            let version = match kind {
                ResourceKind::User => Some(
                    store
                        .patch_user(directory, resource_id, &operations, &if_match)
                        .await
                        .map_err(|err| ApiError::from_store(err, kind, &resource_id.to_string()))?
                        .version,
                ),
                ResourceKind::Group => {
                    let response = PatchResponse::Resource {
                        with_members: false,
                    };
                    store
                        .patch_group(directory, resource_id, &operations, &if_match, response)
                        .await
                        .map_err(|err| ApiError::from_store(err, kind, &resource_id.to_string()))?
                        .map(|group| group.version)
                }
            };
            Ok(Outcome {
                status: StatusCode::OK,
                id: resource_id,
                version,
            })
        }
        BulkMethod::Delete => {
            let resource_id = parse_id(kind, id, path)?;
            match kind {
                ResourceKind::User => store.delete_user(directory, resource_id, &if_match).await,
                ResourceKind::Group => store.delete_group(directory, resource_id, &if_match).await,
            }
            .map_err(|err| ApiError::from_store(err, kind, &resource_id.to_string()))?;
            Ok(Outcome {
                status: StatusCode::NO_CONTENT,
                id: resource_id,
                version: None,
            })
        }
    }
}

fn success_entry(operation: &BulkOperation, outcome: &Outcome, base: &str) -> Value {
    let mut entry = json!({ "method": operation.method.as_str() });
    if let Some(bulk_id) = &operation.bulk_id {
        entry["bulkId"] = json!(bulk_id);
    }
    if let Ok((kind, _)) = parse_path(&operation.path) {
        entry["location"] = json!(format!("{base}{}/{}", kind.endpoint(), outcome.id));
    }
    if let Some(version) = outcome.version {
        entry["version"] = json!(etag(version));
    }
    entry["status"] = json!(outcome.status.as_str());
    entry
}

fn error_entry(operation: &BulkOperation, error: &ApiError) -> Value {
    let mut entry = json!({ "method": operation.method.as_str() });
    if let Some(bulk_id) = &operation.bulk_id {
        entry["bulkId"] = json!(bulk_id);
    }
    entry["status"] = json!(error.status().as_str());
    entry["response"] = error.body();
    entry
}

/// Processes a bulk request: RFC 7644 §3.7.
///
/// Operations run in request order, except that one referring to a
/// `bulkId` whose resource does not exist yet waits until it does. A
/// reference that can never resolve (unknown, failed or circular) fails
/// that operation with 409. With `failOnErrors`, processing stops after
/// that many errors and the remaining operations are left out of the
/// response.
pub async fn bulk(
    State(state): State<AppState>,
    auth: ScimAuth,
    BaseUrl(base): BaseUrl,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let request = parse_bulk_request(&body)?;
    let operations = &request.operations;
    let declared: HashSet<&str> = operations
        .iter()
        .filter_map(|op| op.bulk_id.as_deref())
        .collect();
    let mut created: HashMap<String, String> = HashMap::new();
    let mut failed: HashSet<String> = HashSet::new();
    let mut entries: Vec<Option<Value>> = vec![None; operations.len()];
    let mut errors: u64 = 0;
    let mut pending: Vec<usize> = (0..operations.len()).collect();

    'passes: loop {
        let mut waiting = Vec::new();
        let mut progressed = false;
        for index in pending {
            if request.fail_on_errors.is_some_and(|limit| errors >= limit) {
                break 'passes;
            }
            let operation = substitute(&operations[index], &created);
            let unresolved = references(&operation);
            let hopeless = unresolved
                .iter()
                .find(|id| !declared.contains(id.as_str()) || failed.contains(id.as_str()));
            let outcome = match (unresolved.is_empty(), hopeless) {
                (false, None) => {
                    waiting.push(index);
                    continue;
                }
                (false, Some(id)) => Err(ApiError::Scim(ScimError {
                    status: 409,
                    scim_type: Some(crate::scim::error::ScimType::InvalidValue),
                    detail: format!(
                        "bulkId '{id}' does not name an operation of this request that succeeded"
                    ),
                })),
                (true, _) => execute(&state, auth.directory, &operation).await,
            };
            progressed = true;
            entries[index] = Some(match &outcome {
                Ok(outcome) => {
                    if let Some(bulk_id) = &operation.bulk_id {
                        created.insert(bulk_id.clone(), outcome.id.to_string());
                    }
                    success_entry(&operation, outcome, &base)
                }
                Err(error) => {
                    errors += 1;
                    if let Some(bulk_id) = &operation.bulk_id {
                        failed.insert(bulk_id.clone());
                    }
                    tracing::info!(directory.id = %auth.directory, operation = index, status = error.status().as_u16(), "bulk operation failed");
                    error_entry(&operation, error)
                }
            });
        }
        if waiting.is_empty() {
            break;
        }
        if !progressed {
            // Only circular references are left.
            for index in waiting {
                let error = ApiError::Scim(ScimError {
                    status: 409,
                    scim_type: Some(crate::scim::error::ScimType::InvalidValue),
                    detail: "circular bulkId references cannot be resolved".into(),
                });
                errors += 1;
                entries[index] = Some(error_entry(&operations[index], &error));
            }
            break;
        }
        pending = waiting;
    }

    tracing::info!(directory.id = %auth.directory, operations = operations.len(), errors, "bulk request processed");
    let body = json!({
        "schemas": [BULK_RESPONSE],
        "Operations": entries.into_iter().flatten().collect::<Vec<_>>(),
    });
    Ok(scim_json(StatusCode::OK, &body))
}
