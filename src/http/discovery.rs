//! Discovery endpoints (RFC 7644 §4): `/ServiceProviderConfig`,
//! `/ResourceTypes` and `/Schemas`. They describe exactly what this server
//! supports and hold no directory data, so they need no token.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{BaseUrl, NoFilter};
use super::response::scim_json;
use super::AppState;
use crate::scim::bulk::MAX_OPERATIONS;
use crate::scim::cursor::CURSOR_TIMEOUT_SECS;
use crate::scim::list::{DEFAULT_COUNT, MAX_COUNT};
use crate::scim::schema::{
    resource_type_document, schema_document, schemas_for, ResourceKind, LIST_RESPONSE,
};

const SERVICE_PROVIDER_CONFIG: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const KINDS: [ResourceKind; 2] = [ResourceKind::User, ResourceKind::Group];

fn list_body(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// Returns the service provider configuration: RFC 7643 §5.
pub async fn service_provider_config(
    State(state): State<AppState>,
    _: NoFilter,
    BaseUrl(base): BaseUrl,
) -> Response {
    let body = json!({
        "schemas": [SERVICE_PROVIDER_CONFIG],
        "patch": { "supported": true },
        "bulk": {
            "supported": true,
            "maxOperations": MAX_OPERATIONS,
            "maxPayloadSize": state.max_body_bytes,
        },
        "filter": { "supported": true, "maxResults": MAX_COUNT },
        "changePassword": { "supported": false },
        "sort": { "supported": true },
        "etag": { "supported": true },
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": DEFAULT_COUNT,
            "maxPageSize": MAX_COUNT,
            "cursorTimeout": CURSOR_TIMEOUT_SECS,
        },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A token created with 'scimgate token create', sent as 'Authorization: Bearer <token>'.",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    });
    scim_json(StatusCode::OK, &body)
}

/// Lists every resource type: RFC 7644 §4.
pub async fn list_resource_types(_: NoFilter, BaseUrl(base): BaseUrl) -> Response {
    let resources = KINDS
        .iter()
        .map(|kind| resource_type_document(*kind, &base))
        .collect();
    scim_json(StatusCode::OK, &list_body(resources))
}

/// Returns one resource type by name.
pub async fn get_resource_type(
    _: NoFilter,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let kind = KINDS
        .iter()
        .find(|kind| kind.name() == id)
        .ok_or_else(|| ApiError::NotFound(format!("resource type '{id}' not found")))?;
    Ok(scim_json(
        StatusCode::OK,
        &resource_type_document(*kind, &base),
    ))
}

fn all_schemas(base: &str) -> Vec<Value> {
    let mut documents = Vec::new();
    let mut seen = Vec::new();
    for kind in KINDS {
        for schema in schemas_for(kind) {
            if !seen.contains(&schema.id) {
                seen.push(schema.id);
                documents.push(schema_document(schema, base));
            }
        }
    }
    documents
}

/// Lists every schema: RFC 7644 §4.
pub async fn list_schemas(_: NoFilter, BaseUrl(base): BaseUrl) -> Response {
    scim_json(StatusCode::OK, &list_body(all_schemas(&base)))
}

/// Returns one schema by URN.
pub async fn get_schema(
    _: NoFilter,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    all_schemas(&base)
        .into_iter()
        .find(|document| document["id"] == id.as_str())
        .map(|document| scim_json(StatusCode::OK, &document))
        .ok_or_else(|| ApiError::NotFound(format!("schema '{id}' not found")))
}
