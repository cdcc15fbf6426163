//! The HTTP error type: every failure a handler can return, with its status,
//! its SCIM `scimType` and the RFC 7644 §3.12 error body.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::scim::error::ScimError;
use crate::scim::schema::{ResourceKind, ERROR};
use crate::store::StoreError;

use super::response::SCIM_CONTENT_TYPE;

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A protocol error from the SCIM core (400, 409 …) with its `scimType`.
    #[error(transparent)]
    Scim(#[from] ScimError),
    /// 401: missing, malformed, unknown or revoked bearer token.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403: a valid token that may not make this request.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 404: unknown resource or endpoint.
    #[error("{0}")]
    NotFound(String),
    /// 405: the endpoint exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409 with `scimType: uniqueness`.
    #[error("{0}")]
    Conflict(String),
    /// 412: `If-Match` does not match the stored version.
    #[error("{0}")]
    PreconditionFailed(String),
    /// 413: the body is larger than the configured limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: a body that is not JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 503: the database is unreachable or a transaction was aborted.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// 503: the request did not finish within the configured time limit.
    #[error("the request did not complete within {0} seconds; retry it")]
    TimedOut(u64),
    /// 503: the transaction kept colliding with concurrent ones.
    #[error("transaction aborted by concurrent ones: {0}")]
    Conflicting(String),
    /// 500: anything else. The message is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// Translates a store error about resource `id` of type `kind`.
    pub fn from_store(err: StoreError, kind: ResourceKind, id: &str) -> Self {
        match err {
            StoreError::NotFound => ApiError::not_found(kind, id),
            other => other.into(),
        }
    }

    /// 404 for a resource id.
    pub fn not_found(kind: ResourceKind, id: &str) -> Self {
        ApiError::NotFound(format!("{} '{id}' not found", kind.name()))
    }

    /// Returns the HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Scim(err) => {
                StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST)
            }
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) | ApiError::Conflicting(_) | ApiError::TimedOut(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Returns the `scimType`, where RFC 7644 §3.12 defines one.
    pub fn scim_type(&self) -> Option<&'static str> {
        match self {
            ApiError::Scim(err) => err.scim_type.as_ref().map(|scim_type| scim_type.as_str()),
            ApiError::Conflict(_) => Some("uniqueness"),
            _ => None,
        }
    }

    /// Returns the `detail` sent to the client, which never contains internal error text.
    fn detail(&self) -> String {
        match self {
            ApiError::Unavailable(_) => {
                "the database is unavailable; retry the request later".to_owned()
            }
            ApiError::Conflicting(_) => {
                "the request collided with concurrent changes to the same resources; retry it"
                    .to_owned()
            }
            ApiError::Internal(_) => "internal server error".to_owned(),
            ApiError::MethodNotAllowed => {
                "this endpoint does not support the request method".to_owned()
            }
            other => other.to_string(),
        }
    }

    /// Builds the RFC 7644 §3.12 error body.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR],
            "status": self.status().as_str(),
            "detail": self.detail(),
        });
        if let Some(scim_type) = self.scim_type() {
            body["scimType"] = Value::from(scim_type);
        }
        body
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::NotFound("resource not found".into()),
            StoreError::Conflict(message) => ApiError::Conflict(message),
            StoreError::PreconditionFailed { current } => ApiError::PreconditionFailed(format!(
                "If-Match does not match the current version {}",
                crate::scim::render::etag(current)
            )),
            StoreError::Invalid(err) => ApiError::Scim(err),
            StoreError::Unavailable(message) => ApiError::Unavailable(message),
            StoreError::Aborted(message) => ApiError::Conflicting(message),
            StoreError::Other(message) => ApiError::Internal(message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            ApiError::Internal(message) => tracing::error!(error = %message, "request failed"),
            ApiError::Unavailable(message) | ApiError::Conflicting(message) => {
                tracing::warn!(error = %message, "request failed")
            }
            _ => {
                tracing::debug!(status = status.as_u16(), detail = %self.detail(), "request rejected")
            }
        }
        let mut response = (status, self.body().to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(SCIM_CONTENT_TYPE),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scimgate\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lists every variant with its expected status and scimType.
    fn table() -> Vec<(ApiError, u16, Option<&'static str>)> {
        vec![
            (
                ScimError::invalid_filter("f").into(),
                400,
                Some("invalidFilter"),
            ),
            (
                ScimError::invalid_syntax("s").into(),
                400,
                Some("invalidSyntax"),
            ),
            (
                ScimError::invalid_path("p").into(),
                400,
                Some("invalidPath"),
            ),
            (ScimError::no_target("t").into(), 400, Some("noTarget")),
            (
                ScimError::invalid_value("v").into(),
                400,
                Some("invalidValue"),
            ),
            (ScimError::mutability("m").into(), 400, Some("mutability")),
            (ScimError::uniqueness("u").into(), 409, Some("uniqueness")),
            (ApiError::Unauthorized("no token"), 401, None),
            (ApiError::Forbidden("read scope"), 403, None),
            (ApiError::NotFound("x".into()), 404, None),
            (ApiError::MethodNotAllowed, 405, None),
            (ApiError::Conflict("taken".into()), 409, Some("uniqueness")),
            (ApiError::PreconditionFailed("v".into()), 412, None),
            (ApiError::PayloadTooLarge("big".into()), 413, None),
            (ApiError::UnsupportedMediaType("xml".into()), 415, None),
            (ApiError::Unavailable("down".into()), 503, None),
            (ApiError::Conflicting("deadlock".into()), 503, None),
            (ApiError::TimedOut(30), 503, None),
            (ApiError::Internal("boom".into()), 500, None),
        ]
    }

    #[test]
    fn mapping_table() {
        for (error, status, scim_type) in table() {
            assert_eq!(error.status().as_u16(), status, "{error:?}");
            assert_eq!(error.scim_type(), scim_type, "{error:?}");
            let body = error.body();
            assert_eq!(body["status"], Value::from(status.to_string()), "{error:?}");
            assert_eq!(body["schemas"], json!([ERROR]));
        }
    }

    #[test]
    fn internal_detail_is_generic() {
        let body = ApiError::Internal("relation users does not exist".into()).body();
        assert_eq!(body["detail"], "internal server error");
    }

    #[test]
    fn store_errors_translate() {
        let err: ApiError = StoreError::PreconditionFailed { current: 4 }.into();
        assert_eq!(err.status(), StatusCode::PRECONDITION_FAILED);
        assert!(err.to_string().contains("W/\"4\""));
        let err = ApiError::from_store(StoreError::NotFound, ResourceKind::Group, "abc");
        assert_eq!(err.to_string(), "Group 'abc' not found");
    }
}
