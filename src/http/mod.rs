//! The HTTP layer: router, middleware, extractors, error rendering and one
//! module per SCIM endpoint family. The application API ([`crate::api`])
//! and the admin API ([`crate::admin`]) are nested into the same router.

mod bulk;
mod discovery;
pub mod error;
pub mod extract;
mod groups;
pub mod response;
mod search;
mod users;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::Uri;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::watch;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::config::{PublicUrl, Secret};
use crate::feed::FeedSettings;
use crate::jwt::JwtVerifier;
use crate::store::SharedStore;
use error::ApiError;

/// Path under which the SCIM endpoints are served.
pub const SCIM_BASE_PATH: &str = "/scim/v2";

/// State shared by every handler.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: SharedStore,
    /// Public base URL for links, when configured.
    pub public_url: Option<PublicUrl>,
    /// JWT validation for the application API, when configured.
    pub jwt: Option<Arc<JwtVerifier>>,
    /// The admin API token; `None` disables the admin API.
    pub admin_token: Option<Secret>,
    /// Change feed settings.
    pub feed: FeedSettings,
    /// Bumped on every committed change; long-polls wait on it.
    pub change_signal: watch::Receiver<u64>,
    /// Becomes true when the server shuts down; long-polls return early.
    pub shutdown: watch::Receiver<bool>,
    /// Largest accepted request body in bytes, advertised as
    /// `bulk.maxPayloadSize`.
    pub max_body_bytes: usize,
}

/// Limits applied to every request.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Maximum body size in bytes.
    pub max_body_bytes: usize,
    /// Time limit for one request.
    pub request_timeout: Duration,
}

/// Builds the router with its middleware.
pub fn router(state: AppState, limits: Limits) -> Router {
    let scim = Router::new()
        .route("/", get(search::list_root))
        .route("/.search", post(search::search_root))
        .route("/Bulk", post(bulk::bulk))
        .route("/Users", get(users::list_users).post(users::create_user))
        .route("/Users/.search", post(search::search_users))
        .route(
            "/Users/{id}",
            get(users::get_user)
                .put(users::replace_user)
                .patch(users::patch_user)
                .delete(users::delete_user),
        )
        .route(
            "/Groups",
            get(groups::list_groups).post(groups::create_group),
        )
        .route("/Groups/.search", post(search::search_groups))
        .route(
            "/Groups/{id}",
            get(groups::get_group)
                .put(groups::replace_group)
                .patch(groups::patch_group)
                .delete(groups::delete_group),
        )
        .route(
            "/ServiceProviderConfig",
            get(discovery::service_provider_config),
        )
        .route("/ResourceTypes", get(discovery::list_resource_types))
        .route("/ResourceTypes/{id}", get(discovery::get_resource_type))
        .route("/Schemas", get(discovery::list_schemas))
        .route("/Schemas/{id}", get(discovery::get_schema));

    let x_request_id = axum::http::HeaderName::from_static("x-request-id");
    Router::new()
        .nest(SCIM_BASE_PATH, scim)
        .nest(crate::api::API_BASE_PATH, crate::api::router())
        .nest(crate::admin::ADMIN_BASE_PATH, crate::admin::router())
        .route("/healthz", get(|| async { "ok" }))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            limits.request_timeout,
            time_limit,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(make_span)
                .on_request(())
                .on_response(log_response)
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        .with_state(state)
}

fn make_span(request: &Request) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        http.method = %request.method(),
        http.path = %request.uri().path(),
        request.id = %request_id,
        directory.id = tracing::field::Empty,
    )
}

fn log_response(response: &axum::response::Response, latency: Duration, _span: &tracing::Span) {
    let status = response.status().as_u16();
    let latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    tracing::info!(http.status = status, latency_ms, "request completed");
}

/// Ends a request that runs longer than the configured limit with a SCIM
/// 503 error; dropping the handler rolls back its open transaction.
async fn time_limit(
    axum::extract::State(limit): axum::extract::State<Duration>,
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::TimedOut(limit.as_secs()).into_response(),
    }
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no endpoint at '{}'", uri.path()))
}

async fn method_not_allowed() -> impl IntoResponse {
    ApiError::MethodNotAllowed
}

/// Rewrites a request path with repeated slashes (`/scim/v2//Users`, which
/// a Base URL with a trailing slash produces) and a trailing slash into its
/// canonical form before routing.
pub fn normalize_path<B>(mut request: axum::http::Request<B>) -> axum::http::Request<B> {
    let uri = request.uri();
    let path = uri.path();
    if !path.contains("//") && (path.len() <= 1 || !path.ends_with('/')) {
        return request;
    }
    let mut normalized = String::with_capacity(path.len());
    for segment in path.split('/').filter(|segment| !segment.is_empty()) {
        normalized.push('/');
        normalized.push_str(segment);
    }
    if normalized.is_empty() {
        normalized.push('/');
    }
    if let Some(query) = uri.query() {
        normalized.push('?');
        normalized.push_str(query);
    }
    let mut parts = uri.clone().into_parts();
    if let Ok(path_and_query) = normalized.parse() {
        parts.path_and_query = Some(path_and_query);
        if let Ok(new_uri) = Uri::from_parts(parts) {
            *request.uri_mut() = new_uri;
        }
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(path: &str) -> String {
        let request = axum::http::Request::builder().uri(path).body(()).unwrap();
        normalize_path(request).uri().to_string()
    }

    #[test]
    fn normalize_double_slashes() {
        assert_eq!(normalized("/scim/v2//Users"), "/scim/v2/Users");
        assert_eq!(
            normalized("//scim//v2///Groups/abc?filter=x"),
            "/scim/v2/Groups/abc?filter=x"
        );
        assert_eq!(normalized("/scim/v2/Users/"), "/scim/v2/Users");
        assert_eq!(normalized("/"), "/");
        assert_eq!(normalized("/scim/v2/Users?a=b//c"), "/scim/v2/Users?a=b//c");
    }
}
