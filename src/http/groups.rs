//! `/Groups` endpoints (RFC 7644 §3.3 to §3.6). Members are stored as rows,
//! so member changes never rewrite or serialise the whole member list.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::extract::{parse_if_match, BaseUrl, QueryPairs, ScimAuth, ScimJson};
use super::response::{read_response, resource_response};
use super::search::list_resources;
use super::users::parse_id;
use super::AppState;
use crate::scim::list::{parse_projection, RawListParams};
use crate::scim::patch::parse_patch_request;
use crate::scim::resource::{normalize_resource, take_members};
use crate::scim::schema::ResourceKind;
use crate::store::PatchResponse;

const KIND: ResourceKind = ResourceKind::Group;

/// Creates a group with its initial members: RFC 7644 §3.3. Member ids that
/// name no user or group of the directory are skipped and logged.
pub async fn create_group(
    State(state): State<AppState>,
    auth: ScimAuth,
    BaseUrl(base): BaseUrl,
    QueryPairs(query): QueryPairs,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let projection = parse_projection(KIND, &query)?;
    let mut attributes = normalize_resource(KIND, body)?;
    let members = take_members(&mut attributes)?;

    let group = state
        .store
        .create_group(auth.directory, attributes, members)
        .await?;

    tracing::info!(directory.id = %auth.directory, scim.id = %group.id, "group created");
    Ok(resource_response(
        StatusCode::CREATED,
        KIND,
        &group,
        &base,
        &projection,
    ))
}

/// Reads a group: RFC 7644 §3.4.1. `excludedAttributes=members` (or an
/// `attributes` list without it) skips loading the member rows.
pub async fn get_group(
    State(state): State<AppState>,
    auth: ScimAuth,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    QueryPairs(query): QueryPairs,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let projection = parse_projection(KIND, &query)?;
    let group_id = parse_id(KIND, &id)?;

    let group = state
        .store
        .get_group(auth.directory, group_id, projection.wants("members"))
        .await
        .map_err(|err| ApiError::from_store(err, KIND, &id))?;

    Ok(read_response(KIND, &group, &base, &projection, &headers))
}

/// Lists groups: RFC 7644 §3.4.2.
pub async fn list_groups(
    State(state): State<AppState>,
    auth: ScimAuth,
    BaseUrl(base): BaseUrl,
    QueryPairs(query): QueryPairs,
) -> Result<Response, ApiError> {
    let raw = RawListParams::from_query(&query)?;
    list_resources(&state, auth.directory, KIND, &raw, &base).await
}

/// Replaces a group: RFC 7644 §3.5.1. With `members` the membership is
/// replaced (written as the difference); without it the membership stays.
pub async fn replace_group(
    State(state): State<AppState>,
    auth: ScimAuth,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    QueryPairs(query): QueryPairs,
    headers: HeaderMap,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let projection = parse_projection(KIND, &query)?;
    let group_id = parse_id(KIND, &id)?;
    let has_members = body
        .as_object()
        .is_some_and(|fields| fields.keys().any(|key| key.eq_ignore_ascii_case("members")));
    let mut attributes = normalize_resource(KIND, body)?;
    let members = take_members(&mut attributes)?;
    let members = has_members.then_some(members);

    let group = state
        .store
        .replace_group(
            auth.directory,
            group_id,
            attributes,
            members,
            &parse_if_match(&headers),
        )
        .await
        .map_err(|err| ApiError::from_store(err, KIND, &id))?;

    tracing::info!(directory.id = %auth.directory, scim.id = %group.id, version = group.version, "group replaced");
    Ok(resource_response(
        StatusCode::OK,
        KIND,
        &group,
        &base,
        &projection,
    ))
}

/// Modifies a group: RFC 7644 §3.5.2. Returns 204, or 200 with the group
/// when `attributes` or `excludedAttributes` is given.
pub async fn patch_group(
    State(state): State<AppState>,
    auth: ScimAuth,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    QueryPairs(query): QueryPairs,
    headers: HeaderMap,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let projection = parse_projection(KIND, &query)?;
    let group_id = parse_id(KIND, &id)?;
    let operations = parse_patch_request(KIND, &body)?;
    let response = if projection.is_empty() {
        PatchResponse::NoContent
    } else {
        PatchResponse::Resource {
            with_members: projection.wants("members"),
        }
    };

    let group = state
        .store
        .patch_group(
            auth.directory,
            group_id,
            &operations,
            &parse_if_match(&headers),
            response,
        )
        .await
        .map_err(|err| ApiError::from_store(err, KIND, &id))?;

    tracing::info!(directory.id = %auth.directory, scim.id = %group_id, "group patched");
    match group {
        Some(group) => Ok(resource_response(
            StatusCode::OK,
            KIND,
            &group,
            &base,
            &projection,
        )),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// Deletes a group: RFC 7644 §3.6.
pub async fn delete_group(
    State(state): State<AppState>,
    auth: ScimAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let group_id = parse_id(KIND, &id)?;

    state
        .store
        .delete_group(auth.directory, group_id, &parse_if_match(&headers))
        .await
        .map_err(|err| ApiError::from_store(err, KIND, &id))?;

    tracing::info!(directory.id = %auth.directory, scim.id = %group_id, "group deleted");
    Ok(StatusCode::NO_CONTENT)
}
