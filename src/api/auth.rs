//! Authentication of the application API: a `read` scope API token or a
//! JWT. SCIM tokens are rejected here, and read tokens are rejected by the
//! SCIM endpoints, because each side checks its own scope.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::Problem;
use crate::auth::{lookup_prefix, verify_token};
use crate::http::AppState;
use crate::store::{DirectoryId, TokenScope};

/// The directory that an authenticated application API request may read.
#[derive(Clone, Copy, Debug)]
pub struct ReadAuth {
    /// The directory named by the token.
    pub directory: DirectoryId,
}

/// Extracts the token of an `Authorization: Bearer` header.
pub(crate) fn bearer_token(parts: &Parts) -> Result<&str, Problem> {
    let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
        Problem::Unauthorized(
            "missing Authorization header: send 'Authorization: Bearer <token>'".into(),
        )
    })?;
    let value = header
        .to_str()
        .map_err(|_| Problem::Unauthorized("the Authorization header is not valid text".into()))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(token.trim()),
        _ => Err(Problem::Unauthorized(
            "the Authorization header must use the Bearer scheme".into(),
        )),
    }
}

impl<S> FromRequestParts<S> for ReadAuth
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let token = bearer_token(parts)?;

        let directory = if lookup_prefix(token).is_some() {
            let record = verify_token(state.store.as_ref(), token, TokenScope::Read)
                .await?
                .ok_or_else(|| {
                    Problem::Unauthorized(
                        "the bearer token is unknown, revoked, or not a read token: create one \
                         with 'scimgate token create --directory NAME --scope read'"
                            .into(),
                    )
                })?;
            if let Err(err) = state.store.touch_token(record.id).await {
                tracing::warn!(token.id = %record.id, error = %err, "failed to record token use");
            }
            record.directory_id
        } else if let Some(verifier) = &state.jwt {
            let name = verifier
                .verify(token)
                .map_err(|err| Problem::Unauthorized(err.0))?;
            let directory = state.store.find_directory(&name).await?.ok_or_else(|| {
                Problem::Unauthorized(format!(
                    "the JWT names directory '{name}', which does not exist"
                ))
            })?;
            directory.id
        } else {
            return Err(Problem::Unauthorized(
                "the bearer token is not a scimgate API token, and JWT authentication is not configured".into(),
            ));
        };

        tracing::Span::current().record("directory.id", tracing::field::display(directory));
        Ok(ReadAuth { directory })
    }
}
