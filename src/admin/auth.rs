//! Admin token authentication, compared in constant time.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::api::auth::bearer_token;
use crate::api::error::Problem;
use crate::http::AppState;

/// Proof that a request carried the admin token.
#[derive(Clone, Copy, Debug)]
pub struct AdminAuth;

impl<S> FromRequestParts<S> for AdminAuth
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let Some(expected) = &state.admin_token else {
            return Err(Problem::Unavailable(
                "the admin API is disabled: start scimgate with --admin-token or SCIMGATE_ADMIN_TOKEN".into(),
            ));
        };
        let token = bearer_token(parts)?;
        // Hash both sides first so that the comparison takes the same time
        // whatever the lengths.
        let presented = Sha256::digest(token.as_bytes());
        let configured = Sha256::digest(expected.expose().as_bytes());
        if bool::from(presented.ct_eq(&configured)) {
            Ok(AdminAuth)
        } else {
            Err(Problem::Unauthorized(
                "the bearer token is not the admin token (--admin-token, SCIMGATE_ADMIN_TOKEN)"
                    .into(),
            ))
        }
    }
}
