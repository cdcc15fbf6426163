//! The admin API (`/admin/v1`): webhook endpoint registration and the
//! delivery log, for operators and deployment tooling.
//!
//! It is authenticated by one admin token, configured with `--admin-token`
//! or `SCIMGATE_ADMIN_TOKEN` and sent as `Authorization: Bearer <token>`.
//! Without a configured token every admin request gets 503, so the admin
//! API is off by default.

mod auth;
mod webhooks;

use axum::routing::get;
use axum::Router;

use crate::http::AppState;

/// Path under which the admin API is served.
pub const ADMIN_BASE_PATH: &str = "/admin/v1";

/// Builds the admin router, to be nested under [`ADMIN_BASE_PATH`].
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/directories/{name}/webhooks",
            get(webhooks::list_endpoints).post(webhooks::create_endpoint),
        )
        .route(
            "/webhooks/{id}",
            get(webhooks::get_endpoint)
                .patch(webhooks::update_endpoint)
                .delete(webhooks::delete_endpoint),
        )
        .route("/webhooks/{id}/deliveries", get(webhooks::list_deliveries))
        .fallback(crate::api::not_found)
        .method_not_allowed_fallback(crate::api::method_not_allowed)
}
