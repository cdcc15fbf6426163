//! `/api/v1/users` endpoints.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::ReadAuth;
use super::error::Problem;
use super::params::{
    parse_bool, parse_limit, parse_time, parse_uuid, path_id, query_rejection, DEFAULT_LIMIT,
    MAX_LIMIT,
};
use crate::feed::format_cursor;
use crate::http::AppState;
use crate::store::listing::UserListQuery;
use crate::view::{group_view, scim_group, scim_user, user_view};

/// Query parameters of `GET /api/v1/users`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserListParams {
    active: Option<String>,
    email: Option<String>,
    user_name: Option<String>,
    external_id: Option<String>,
    group: Option<String>,
    updated_since: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

/// Lists users, filtered, in id order, one keyset page at a time.
///
/// `feed_cursor` is the change feed position read before the page, so that
/// a consumer that lists everything and then follows the feed from the
/// first page's `feed_cursor` misses no change.
pub async fn list_users(
    State(state): State<AppState>,
    auth: ReadAuth,
    params: Result<Query<UserListParams>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let Query(params) = params.map_err(query_rejection)?;
    let limit = parse_limit(params.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let query = UserListQuery {
        active: parse_bool("active", params.active.as_deref())?,
        email: params.email,
        user_name: params.user_name,
        external_id: params.external_id,
        group: parse_uuid("group", params.group.as_deref())?,
        updated_since: parse_time("updated_since", params.updated_since.as_deref())?,
        after: parse_uuid("after", params.after.as_deref())?,
        limit: limit + 1,
    };

    let feed_cursor = state.store.feed_head(auth.directory).await?;
    let mut users = state.store.query_users(auth.directory, &query).await?;

    let more = users.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    users.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = more
        .then(|| users.last().map(|user| user.id.to_string()))
        .flatten();
    let data: Vec<Value> = users
        .iter()
        .map(|user| user_view(auth.directory, &scim_user(user)))
        .collect();
    Ok(Json(json!({
        "data": data,
        "next_cursor": next_cursor,
        "feed_cursor": format_cursor(feed_cursor),
    })))
}

/// Reads one user with its groups.
pub async fn get_user(
    State(state): State<AppState>,
    auth: ReadAuth,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let user_id = path_id("user", &id)?;

    let user = state
        .store
        .get_user(auth.directory, user_id)
        .await
        .map_err(|err| Problem::from_store(err, &format!("user '{id}'")))?;

    Ok(Json(user_view(auth.directory, &scim_user(&user))))
}

/// Lists the groups a user is a direct member of, by name.
pub async fn list_user_groups(
    State(state): State<AppState>,
    auth: ReadAuth,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let user_id = path_id("user", &id)?;

    let groups = state
        .store
        .user_groups(auth.directory, user_id)
        .await
        .map_err(|err| Problem::from_store(err, &format!("user '{id}'")))?;

    let data: Vec<Value> = groups
        .iter()
        .map(|group| group_view(auth.directory, &scim_group(group)))
        .collect();
    Ok(Json(json!({ "data": data })))
}
