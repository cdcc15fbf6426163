//! The application API (`/api/v1`): read-only JSON views of a directory's
//! users and groups, and the change feed. It is not SCIM: resources use the
//! normalised shapes of [`crate::view`], errors are RFC 9457 problem
//! details, and lists use keyset pagination.

pub mod auth;
pub mod error;
mod events;
mod groups;
pub(crate) mod params;
mod users;

use axum::routing::get;
use axum::Router;

use crate::http::AppState;

/// Path under which the application API is served.
pub const API_BASE_PATH: &str = "/api/v1";

/// Builds the application API router, to be nested under [`API_BASE_PATH`].
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(users::list_users))
        .route("/users/{id}", get(users::get_user))
        .route("/users/{id}/groups", get(users::list_user_groups))
        .route("/groups", get(groups::list_groups))
        .route("/groups/{id}", get(groups::get_group))
        .route("/groups/{id}/members", get(groups::list_members))
        .route("/events", get(events::list_events))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// Returns 405 as a problem document under the API and admin API.
pub(crate) async fn method_not_allowed() -> error::Problem {
    error::Problem::MethodNotAllowed
}

/// Returns 404 as a problem document for unknown paths under the API and
/// admin API, instead of the SCIM error that the rest of the server uses.
pub(crate) async fn not_found(uri: axum::http::Uri) -> error::Problem {
    error::Problem::NotFound(format!("no endpoint at '{}'", uri.path()))
}
