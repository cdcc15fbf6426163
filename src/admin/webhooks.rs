//! Admin endpoints for webhook endpoints and their delivery log.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::AdminAuth;
use crate::api::error::Problem;
use crate::api::params::{parse_limit, path_id, query_rejection, DEFAULT_LIMIT, MAX_LIMIT};
use crate::http::AppState;
use crate::scim::render::format_time;
use crate::store::webhooks::{DeliveryRecord, EndpointUpdate};
use crate::store::Directory;
use crate::webhook::signature::{decode_secret, generate_secret};
use crate::webhook::{endpoint_json, validate_event_types, validate_url};

/// Body of `POST /admin/v1/directories/{name}/webhooks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    url: String,
    #[serde(default)]
    event_types: Vec<String>,
    secret: Option<String>,
}

/// Body of `PATCH /admin/v1/webhooks/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchEndpoint {
    url: Option<String>,
    event_types: Option<Vec<String>>,
    enabled: Option<bool>,
}

/// Query parameters of the delivery log.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryParams {
    limit: Option<String>,
    before: Option<String>,
}

fn json_rejection(rejection: JsonRejection) -> Problem {
    Problem::BadRequest(format!("invalid request body: {}", rejection.body_text()))
}

async fn directory_named(state: &AppState, name: &str) -> Result<Directory, Problem> {
    state
        .store
        .find_directory(name)
        .await?
        .ok_or_else(|| Problem::NotFound(format!("directory '{name}' not found")))
}

/// Registers an endpoint; the response carries the signing secret, the only
/// time it is shown.
pub async fn create_endpoint(
    State(state): State<AppState>,
    _admin: AdminAuth,
    Path(name): Path<String>,
    body: Result<Json<CreateEndpoint>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let Json(body) = body.map_err(json_rejection)?;
    validate_url(&body.url).map_err(Problem::BadRequest)?;
    validate_event_types(&body.event_types).map_err(Problem::BadRequest)?;
    let secret = match body.secret {
        Some(secret) => {
            decode_secret(&secret).map_err(Problem::BadRequest)?;
            secret
        }
        None => generate_secret(),
    };
    let directory = directory_named(&state, &name).await?;

    let endpoint = state
        .store
        .create_webhook_endpoint(directory.id, &body.url, &body.event_types, &secret)
        .await?;

    tracing::info!(webhook.id = %endpoint.id, directory.id = %directory.id, "webhook endpoint created");
    let mut rendered = endpoint_json(&endpoint);
    rendered["secret"] = Value::String(secret);
    Ok((StatusCode::CREATED, Json(rendered)))
}

/// Lists a directory's endpoints.
pub async fn list_endpoints(
    State(state): State<AppState>,
    _admin: AdminAuth,
    Path(name): Path<String>,
) -> Result<Json<Value>, Problem> {
    let directory = directory_named(&state, &name).await?;

    let endpoints = state
        .store
        .list_webhook_endpoints(Some(directory.id))
        .await?;

    let data: Vec<Value> = endpoints.iter().map(endpoint_json).collect();
    Ok(Json(json!({ "data": data })))
}

/// Reads an endpoint, with its failure state.
pub async fn get_endpoint(
    State(state): State<AppState>,
    _admin: AdminAuth,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let endpoint_id = path_id("webhook endpoint", &id)?;

    let endpoint = state
        .store
        .get_webhook_endpoint(endpoint_id)
        .await
        .map_err(|err| Problem::from_store(err, &format!("webhook endpoint '{id}'")))?;

    Ok(Json(endpoint_json(&endpoint)))
}

/// Changes an endpoint's URL or event types, or enables or disables it.
/// Enabling resets its failure count; its pending deliveries resume.
pub async fn update_endpoint(
    State(state): State<AppState>,
    _admin: AdminAuth,
    Path(id): Path<String>,
    body: Result<Json<PatchEndpoint>, JsonRejection>,
) -> Result<Json<Value>, Problem> {
    let endpoint_id = path_id("webhook endpoint", &id)?;
    let Json(body) = body.map_err(json_rejection)?;
    if let Some(url) = &body.url {
        validate_url(url).map_err(Problem::BadRequest)?;
    }
    if let Some(types) = &body.event_types {
        validate_event_types(types).map_err(Problem::BadRequest)?;
    }
    let update = EndpointUpdate {
        url: body.url,
        event_types: body.event_types,
        enabled: body.enabled,
    };

    let endpoint = state
        .store
        .update_webhook_endpoint(endpoint_id, &update, "disabled by an operator")
        .await
        .map_err(|err| Problem::from_store(err, &format!("webhook endpoint '{id}'")))?;

    tracing::info!(webhook.id = %endpoint.id, enabled = endpoint.disabled_at.is_none(), "webhook endpoint updated");
    Ok(Json(endpoint_json(&endpoint)))
}

/// Deletes an endpoint and its delivery log.
pub async fn delete_endpoint(
    State(state): State<AppState>,
    _admin: AdminAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let endpoint_id = path_id("webhook endpoint", &id)?;

    state
        .store
        .delete_webhook_endpoint(endpoint_id)
        .await
        .map_err(|err| Problem::from_store(err, &format!("webhook endpoint '{id}'")))?;

    tracing::info!(webhook.id = %endpoint_id, "webhook endpoint deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Renders one delivery log row.
pub fn delivery_json(delivery: &DeliveryRecord) -> Value {
    let time = |value: &Option<chrono::DateTime<chrono::Utc>>| value.as_ref().map(format_time);
    json!({
        "id": delivery.id.to_string(),
        "webhook_id": format!("msg_{}", delivery.id.simple()),
        "endpoint_id": delivery.endpoint_id.to_string(),
        "event_id": delivery.seq.to_string(),
        "event_type": delivery.event_type,
        "resource_id": delivery.resource_id.to_string(),
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": format_time(&delivery.next_attempt_at),
        "last_attempt_at": time(&delivery.last_attempt_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "delivered_at": time(&delivery.delivered_at),
        "created_at": format_time(&delivery.created_at),
    })
}

/// Lists an endpoint's deliveries, newest first; `next_cursor` is sent as
/// `before` for the next page.
pub async fn list_deliveries(
    State(state): State<AppState>,
    _admin: AdminAuth,
    Path(id): Path<String>,
    params: Result<Query<DeliveryParams>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let Query(params) = params.map_err(query_rejection)?;
    let endpoint_id = path_id("webhook endpoint", &id)?;
    let limit = parse_limit(params.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let before = params
        .before
        .as_deref()
        .map(|text| {
            text.parse::<i64>().map_err(|_| {
                Problem::BadRequest(format!(
                    "invalid before '{text}': send the next_cursor of a previous page"
                ))
            })
        })
        .transpose()?;

    let deliveries = state
        .store
        .list_deliveries(endpoint_id, before, limit)
        .await
        .map_err(|err| Problem::from_store(err, &format!("webhook endpoint '{id}'")))?;

    let full = deliveries.len() == usize::try_from(limit).unwrap_or(usize::MAX);
    let next_cursor = full
        .then(|| deliveries.last().map(|delivery| delivery.seq.to_string()))
        .flatten();
    let data: Vec<Value> = deliveries.iter().map(delivery_json).collect();
    Ok(Json(json!({ "data": data, "next_cursor": next_cursor })))
}
