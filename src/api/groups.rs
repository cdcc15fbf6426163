//! `/api/v1/groups` endpoints.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::ReadAuth;
use super::error::Problem;
use super::params::{
    parse_limit, parse_time, parse_uuid, path_id, query_rejection, DEFAULT_LIMIT, MAX_LIMIT,
};
use crate::feed::format_cursor;
use crate::http::AppState;
use crate::store::listing::GroupListQuery;
use crate::view::{group_view, member_type_name, scim_group};

/// Query parameters of `GET /api/v1/groups`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupListParams {
    name: Option<String>,
    external_id: Option<String>,
    updated_since: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

/// Query parameters of `GET /api/v1/groups/{id}/members`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberListParams {
    limit: Option<String>,
    after: Option<String>,
}

fn usize_of(limit: u32) -> usize {
    usize::try_from(limit).unwrap_or(usize::MAX)
}

/// Lists groups, filtered, in id order, one keyset page at a time, with the
/// feed position read before the page (see `list_users`).
pub async fn list_groups(
    State(state): State<AppState>,
    auth: ReadAuth,
    params: Result<Query<GroupListParams>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let Query(params) = params.map_err(query_rejection)?;
    let limit = parse_limit(params.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let query = GroupListQuery {
        name: params.name,
        external_id: params.external_id,
        updated_since: parse_time("updated_since", params.updated_since.as_deref())?,
        after: parse_uuid("after", params.after.as_deref())?,
        limit: limit + 1,
    };

    let feed_cursor = state.store.feed_head(auth.directory).await?;
    let mut groups = state.store.query_groups(auth.directory, &query).await?;

    let more = groups.len() > usize_of(limit);
    groups.truncate(usize_of(limit));
    let next_cursor = more
        .then(|| groups.last().map(|group| group.id.to_string()))
        .flatten();
    let data: Vec<Value> = groups
        .iter()
        .map(|group| group_view(auth.directory, &scim_group(group)))
        .collect();
    Ok(Json(json!({
        "data": data,
        "next_cursor": next_cursor,
        "feed_cursor": format_cursor(feed_cursor),
    })))
}

/// Reads one group, without members.
pub async fn get_group(
    State(state): State<AppState>,
    auth: ReadAuth,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let group_id = path_id("group", &id)?;

    let group = state
        .store
        .get_group(auth.directory, group_id, false)
        .await
        .map_err(|err| Problem::from_store(err, &format!("group '{id}'")))?;

    Ok(Json(group_view(auth.directory, &scim_group(&group))))
}

/// Lists a group's members in member id order, one keyset page at a time;
/// a page costs the same whatever the group's size.
pub async fn list_members(
    State(state): State<AppState>,
    auth: ReadAuth,
    Path(id): Path<String>,
    params: Result<Query<MemberListParams>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let Query(params) = params.map_err(query_rejection)?;
    let group_id = path_id("group", &id)?;
    let limit = parse_limit(params.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let after = parse_uuid("after", params.after.as_deref())?;

    let mut members = state
        .store
        .group_member_page(auth.directory, group_id, after, limit + 1)
        .await
        .map_err(|err| Problem::from_store(err, &format!("group '{id}'")))?;

    let more = members.len() > usize_of(limit);
    members.truncate(usize_of(limit));
    let next_cursor = more
        .then(|| members.last().map(|member| member.id.to_string()))
        .flatten();
    let data: Vec<Value> = members
        .iter()
        .map(|member| {
            json!({
                "id": member.id.to_string(),
                "type": member_type_name(&member.member_type),
                "display_name": member.display,
            })
        })
        .collect();
    Ok(Json(json!({ "data": data, "next_cursor": next_cursor })))
}
