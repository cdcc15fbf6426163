//! Errors of the application and admin APIs, rendered as RFC 9457 problem
//! details (`application/problem+json`), not as SCIM errors.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

/// Media type of every error body of these APIs.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// A failed application or admin API request.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// 400: an invalid query parameter or body.
    #[error("{0}")]
    BadRequest(String),
    /// 401: missing, unknown or rejected credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 404: unknown resource or endpoint.
    #[error("{0}")]
    NotFound(String),
    /// 405: the endpoint exists but not for this method.
    #[error("this endpoint does not support the request method")]
    MethodNotAllowed,
    /// 410: a feed cursor older than the retention.
    #[error("{0}")]
    Gone(String),
    /// 503: the database is unreachable, or the admin API is not configured.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// 500: anything else. The message is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Problem {
    /// Returns the HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Problem::BadRequest(_) => StatusCode::BAD_REQUEST,
            Problem::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Problem::NotFound(_) => StatusCode::NOT_FOUND,
            Problem::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Problem::Gone(_) => StatusCode::GONE,
            Problem::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Problem::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn detail(&self) -> String {
        match self {
            Problem::Internal(_) => "internal error; the server log has the details".into(),
            Problem::Unavailable(_) => "the service is temporarily unavailable; retry later".into(),
            other => other.to_string(),
        }
    }

    /// Translates a store error about `subject` (such as "user 'abc'").
    pub fn from_store(err: StoreError, subject: &str) -> Self {
        match err {
            StoreError::NotFound => Problem::NotFound(format!("{subject} not found")),
            other => other.into(),
        }
    }
}

impl From<StoreError> for Problem {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Problem::NotFound("not found".into()),
            StoreError::Invalid(err) => Problem::BadRequest(err.detail),
            StoreError::Unavailable(message) | StoreError::Aborted(message) => {
                Problem::Unavailable(message)
            }
            StoreError::Conflict(message) => {
                Problem::Internal(format!("unexpected conflict: {message}"))
            }
            other => Problem::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Problem::Internal(message) => tracing::error!(error = %message, "request failed"),
            Problem::Unavailable(message) => tracing::warn!(error = %message, "request failed"),
            _ => tracing::debug!(status = status.as_u16(), detail = %self, "request rejected"),
        }
        let body = json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": self.detail(),
        });
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
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

    #[test]
    fn status_table() {
        let table = [
            (Problem::BadRequest("x".into()), 400),
            (Problem::Unauthorized("x".into()), 401),
            (Problem::NotFound("x".into()), 404),
            (Problem::Gone("x".into()), 410),
            (Problem::Unavailable("x".into()), 503),
            (Problem::Internal("x".into()), 500),
        ];
        for (problem, status) in table {
            assert_eq!(problem.status().as_u16(), status, "{problem:?}");
        }
    }

    #[test]
    fn internal_detail_is_generic() {
        let problem = Problem::Internal("relation \"users\" does not exist".into());
        assert!(!problem.detail().contains("relation"));
    }
}
