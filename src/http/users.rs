//! `/Users` endpoints (RFC 7644 §3.3 to §3.6).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use uuid::Uuid;

use super::error::ApiError;
use super::extract::{parse_if_match, BaseUrl, QueryPairs, ScimAuth, ScimJson};
use super::response::{read_response, resource_response};
use super::search::list_resources;
use super::AppState;
use crate::scim::list::{parse_projection, RawListParams};
use crate::scim::patch::parse_patch_request;
use crate::scim::resource::normalize_resource;
use crate::scim::schema::ResourceKind;

const KIND: ResourceKind = ResourceKind::User;

/// Parses a path id; an id that is not a UUID cannot exist, so it is a 404.
pub(super) fn parse_id(kind: ResourceKind, id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::not_found(kind, id))
}

/// Creates a user: RFC 7644 §3.3.
pub async fn create_user(
    State(state): State<AppState>,
    auth: ScimAuth,
    BaseUrl(base): BaseUrl,
    QueryPairs(query): QueryPairs,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let projection = parse_projection(KIND, &query)?;
    let attributes = normalize_resource(KIND, body)?;

    let user = state.store.create_user(auth.directory, attributes).await?;

    tracing::info!(directory.id = %auth.directory, scim.id = %user.id, "user created");
    Ok(resource_response(
        StatusCode::CREATED,
        KIND,
        &user,
        &base,
        &projection,
    ))
}

/// Reads a user: RFC 7644 §3.4.1.
pub async fn get_user(
    State(state): State<AppState>,
    auth: ScimAuth,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    QueryPairs(query): QueryPairs,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let projection = parse_projection(KIND, &query)?;
    let user_id = parse_id(KIND, &id)?;

    let user = state
        .store
        .get_user(auth.directory, user_id)
        .await
        .map_err(|err| ApiError::from_store(err, KIND, &id))?;

    Ok(read_response(KIND, &user, &base, &projection, &headers))
}

/// Lists users: RFC 7644 §3.4.2.
pub async fn list_users(
    State(state): State<AppState>,
    auth: ScimAuth,
    BaseUrl(base): BaseUrl,
    QueryPairs(query): QueryPairs,
) -> Result<Response, ApiError> {
    let raw = RawListParams::from_query(&query)?;
    list_resources(&state, auth.directory, KIND, &raw, &base).await
}

/// Replaces a user: RFC 7644 §3.5.1. Read-only attributes in the body,
/// `id` included, are ignored.
pub async fn replace_user(
    State(state): State<AppState>,
    auth: ScimAuth,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    QueryPairs(query): QueryPairs,
    headers: HeaderMap,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let projection = parse_projection(KIND, &query)?;
    let user_id = parse_id(KIND, &id)?;
    let attributes = normalize_resource(KIND, body)?;

    let user = state
        .store
        .replace_user(
            auth.directory,
            user_id,
            attributes,
            &parse_if_match(&headers),
        )
        .await
        .map_err(|err| ApiError::from_store(err, KIND, &id))?;

    tracing::info!(directory.id = %auth.directory, scim.id = %user.id, version = user.version, "user replaced");
    Ok(resource_response(
        StatusCode::OK,
        KIND,
        &user,
        &base,
        &projection,
    ))
}

/// Modifies a user: RFC 7644 §3.5.2. Returns 200 with the user.
pub async fn patch_user(
    State(state): State<AppState>,
    auth: ScimAuth,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    QueryPairs(query): QueryPairs,
    headers: HeaderMap,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let projection = parse_projection(KIND, &query)?;
    let user_id = parse_id(KIND, &id)?;
    let operations = parse_patch_request(KIND, &body)?;

    let user = state
        .store
        .patch_user(
            auth.directory,
            user_id,
            &operations,
            &parse_if_match(&headers),
        )
        .await
        .map_err(|err| ApiError::from_store(err, KIND, &id))?;

    tracing::info!(directory.id = %auth.directory, scim.id = %user.id, version = user.version, "user patched");
    Ok(resource_response(
        StatusCode::OK,
        KIND,
        &user,
        &base,
        &projection,
    ))
}

/// Deletes a user: RFC 7644 §3.6.
pub async fn delete_user(
    State(state): State<AppState>,
    auth: ScimAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let user_id = parse_id(KIND, &id)?;

    state
        .store
        .delete_user(auth.directory, user_id, &parse_if_match(&headers))
        .await
        .map_err(|err| ApiError::from_store(err, KIND, &id))?;

    tracing::info!(directory.id = %auth.directory, scim.id = %user_id, "user deleted");
    Ok(StatusCode::NO_CONTENT)
}
