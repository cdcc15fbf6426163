//! Listing and searching: `GET /Users`, `GET /Groups`, `POST …/.search`
//! (RFC 7644 §3.4.2, §3.4.3) and the same on the service root across both
//! resource types (RFC 7644 §3.4.2.1).

use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{BaseUrl, QueryPairs, ScimAuth, ScimJson};
use super::response::{render, scim_json};
use super::AppState;
use crate::scim::cursor::encode_cursor;
use crate::scim::error::{ScimError, ScimType};
use crate::scim::filter::parse_filter;
use crate::scim::list::{ListParams, Paging, RawListParams, MAX_COUNT};
use crate::scim::projection::Projection;
use crate::scim::schema::{ResourceKind, LIST_RESPONSE};
use crate::store::{DirectoryId, ListQuery, StoredResource};

/// Deepest result a root-level query may reach (`startIndex + count`),
/// because it merges the two resource types in memory.
pub const MAX_ROOT_DEPTH: u64 = 10_000;

fn relation_name(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "groups",
        ResourceKind::Group => "members",
    }
}

/// Runs a list query for one resource type and renders the `ListResponse`.
pub(super) async fn list_resources(
    state: &AppState,
    directory: DirectoryId,
    kind: ResourceKind,
    raw: &RawListParams,
    base: &str,
) -> Result<Response, ApiError> {
    let now = chrono::Utc::now().timestamp();
    let params = ListParams::resolve(kind, raw, now)?;
    let query = ListQuery {
        with_relations: params.projection.wants(relation_name(kind)),
        filter: params.filter.clone(),
        sort: params.sort.clone(),
        paging: params.paging.clone(),
        count: params.count,
    };

    let page = match kind {
        ResourceKind::User => state.store.list_users(directory, &query).await?,
        ResourceKind::Group => state.store.list_groups(directory, &query).await?,
    };

    let resources: Vec<Value> = page
        .items
        .iter()
        .map(|item| project(kind, item, base, &params.projection))
        .collect();
    let mut body = json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": page.total,
        "itemsPerPage": resources.len(),
    });
    match &params.paging {
        Paging::Index { start_index } => body["startIndex"] = json!(start_index),
        Paging::Cursor(_) => {
            if let Some(next) = &page.next {
                body["nextCursor"] = json!(encode_cursor(&params.fingerprint, now, next));
            }
        }
    }
    body["Resources"] = Value::Array(resources);
    Ok(scim_json(axum::http::StatusCode::OK, &body))
}

fn project(
    kind: ResourceKind,
    item: &StoredResource,
    base: &str,
    projection: &Projection,
) -> Value {
    let mut body = render(kind, item, base);
    projection.apply(kind, &mut body);
    body
}

/// Searches users or groups with a `SearchRequest` body: RFC 7644 §3.4.3.
async fn search(
    state: AppState,
    auth: ScimAuth,
    base: String,
    kind: ResourceKind,
    body: Value,
) -> Result<Response, ApiError> {
    let raw = RawListParams::from_search_request(&body)?;
    list_resources(&state, auth.directory, kind, &raw, &base).await
}

/// Searches users: `POST /Users/.search`.
pub async fn search_users(
    State(state): State<AppState>,
    auth: ScimAuth,
    BaseUrl(base): BaseUrl,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    search(state, auth, base, ResourceKind::User, body).await
}

/// Searches groups: `POST /Groups/.search`.
pub async fn search_groups(
    State(state): State<AppState>,
    auth: ScimAuth,
    BaseUrl(base): BaseUrl,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    search(state, auth, base, ResourceKind::Group, body).await
}

/// Lists both resource types: `GET` on the service root.
pub async fn list_root(
    State(state): State<AppState>,
    auth: ScimAuth,
    BaseUrl(base): BaseUrl,
    QueryPairs(query): QueryPairs,
) -> Result<Response, ApiError> {
    let raw = RawListParams::from_query(&query)?;
    list_both(&state, auth.directory, &raw, &base).await
}

/// Searches both resource types: `POST /.search` on the service root.
pub async fn search_root(
    State(state): State<AppState>,
    auth: ScimAuth,
    BaseUrl(base): BaseUrl,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let raw = RawListParams::from_search_request(&body)?;
    list_both(&state, auth.directory, &raw, &base).await
}

/// Returns whether the root filter parses for `kind`. A filter that names an
/// attribute only the other type has matches nothing of this type.
fn filter_applies(kind: ResourceKind, raw: &RawListParams) -> bool {
    match raw
        .filter
        .as_deref()
        .map(str::trim)
        .filter(|text| !text.is_empty())
    {
        None => true,
        Some(text) => parse_filter(kind, text).is_ok(),
    }
}

/// Lists users and groups together in creation order, merging one page of
/// each in memory.
async fn list_both(
    state: &AppState,
    directory: DirectoryId,
    raw: &RawListParams,
    base: &str,
) -> Result<Response, ApiError> {
    if raw.sort_by.is_some() || raw.cursor.is_some() {
        return Err(ScimError::invalid_value(
            "sortBy and cursor are not supported on the service root: query /Users or /Groups instead",
        )
        .into());
    }
    let start_index = u64::try_from(raw.start_index.unwrap_or(1).max(1)).unwrap_or(1);
    let count = match raw.count {
        Some(count) => u64::try_from(count.max(0)).unwrap_or(0).min(MAX_COUNT),
        None => crate::scim::list::DEFAULT_COUNT,
    };
    let depth = start_index - 1 + count;
    if depth > MAX_ROOT_DEPTH {
        return Err(ApiError::Scim(ScimError {
            status: 400,
            scim_type: Some(ScimType::TooMany),
            detail: format!(
                "a service-root query may reach at most result {MAX_ROOT_DEPTH}: query /Users or /Groups to page further"
            ),
        }));
    }

    let user_applies = filter_applies(ResourceKind::User, raw);
    let group_applies = filter_applies(ResourceKind::Group, raw);
    if !user_applies && !group_applies {
        // A syntax error, or an attribute neither type defines: report it
        // as /Users would.
        ListParams::resolve(ResourceKind::User, raw, 0)?;
    }

    let mut merged: Vec<(ResourceKind, StoredResource, Projection)> = Vec::new();
    let mut total = 0;
    let prefix = RawListParams {
        start_index: Some(1),
        count: Some(i64::try_from(depth).unwrap_or(i64::MAX)),
        ..raw.clone()
    };
    for (kind, applies) in [
        (ResourceKind::User, user_applies),
        (ResourceKind::Group, group_applies),
    ] {
        if !applies {
            continue;
        }
        let params = ListParams::resolve(kind, &prefix, 0)?;
        let query = ListQuery {
            with_relations: params.projection.wants(relation_name(kind)),
            filter: params.filter,
            sort: None,
            paging: Paging::Index { start_index: 1 },
            count: depth,
        };
        let page = match kind {
            ResourceKind::User => state.store.list_users(directory, &query).await?,
            ResourceKind::Group => state.store.list_groups(directory, &query).await?,
        };
        total += page.total;
        merged.extend(
            page.items
                .into_iter()
                .map(|item| (kind, item, params.projection.clone())),
        );
    }
    merged.sort_by_key(|(_, item, _)| (item.created, item.id));

    let resources: Vec<Value> = merged
        .iter()
        .skip(usize::try_from(start_index - 1).unwrap_or(usize::MAX))
        .take(usize::try_from(count).unwrap_or(usize::MAX))
        .map(|(kind, item, projection)| project(*kind, item, base, projection))
        .collect();
    let body = json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    });
    Ok(scim_json(axum::http::StatusCode::OK, &body))
}
