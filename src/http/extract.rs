//! Request extractors: the authenticated directory, the JSON body, the base
//! URL for links, `If-Match`, and list parameters.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Query, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, IF_MATCH};
use axum::http::request::Parts;
use serde_json::Value;

use super::error::ApiError;
use super::AppState;
use crate::auth::find_token;
use crate::scim::error::ScimError;
use crate::store::{DirectoryId, IfMatch, TokenScope};

/// The directory of an authenticated SCIM request.
#[derive(Clone, Copy, Debug)]
pub struct ScimAuth {
    /// Directory the bearer token is bound to.
    pub directory: DirectoryId,
}

impl<S> FromRequestParts<S> for ScimAuth
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(ApiError::Unauthorized(
                "missing Authorization header: send 'Authorization: Bearer <token>'",
            ))?;
        let value = header
            .to_str()
            .map_err(|_| ApiError::Unauthorized("the Authorization header is not valid text"))?;
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => {
                return Err(ApiError::Unauthorized(
                    "the Authorization header must use the Bearer scheme",
                ))
            }
        };
        let record =
            find_token(state.store.as_ref(), token)
                .await?
                .ok_or(ApiError::Unauthorized(
                    "the bearer token is unknown or revoked",
                ))?;
        if record.scope != TokenScope::Scim {
            return Err(ApiError::Forbidden(
                "this token has the read scope, for the application API; SCIM requests need a token created with 'scimgate token create --scope scim'",
            ));
        }

        tracing::Span::current()
            .record("directory.id", tracing::field::display(record.directory_id));
        if let Err(err) = state.store.touch_token(record.id).await {
            tracing::warn!(token.id = %record.id, error = %err, "failed to record token use");
        }
        Ok(ScimAuth {
            directory: record.directory_id,
        })
    }
}

/// The SCIM base URL (`…/scim/v2`) for `meta.location`, `Location` and `$ref`:
/// the configured public URL, else built from the request's Host header.
#[derive(Clone, Debug)]
pub struct BaseUrl(pub String);

impl<S> FromRequestParts<S> for BaseUrl
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let origin = match &state.public_url {
            Some(url) => url.as_str().to_owned(),
            None => {
                let host = parts
                    .headers
                    .get(HOST)
                    .and_then(|host| host.to_str().ok())
                    .filter(|host| is_host(host))
                    .unwrap_or("localhost");
                format!("http://{host}")
            }
        };
        Ok(BaseUrl(format!("{origin}{}", super::SCIM_BASE_PATH)))
    }
}

/// Returns true when a Host header value is a host name or address with an
/// optional port, so that it can go into links unescaped.
fn is_host(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 255
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// A JSON object body sent as `application/scim+json` or `application/json`.
#[derive(Debug)]
pub struct ScimJson(pub Value);

fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/scim+json")
        || essence.eq_ignore_ascii_case("application/json")
}

impl<S> FromRequest<S> for ScimJson
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        // A missing Content-Type is read as JSON: some clients omit it.
        if let Some(content_type) = request.headers().get(CONTENT_TYPE) {
            let content_type = content_type.to_str().unwrap_or("");
            if !is_json_media_type(content_type) {
                return Err(ApiError::UnsupportedMediaType(format!(
                    "Content-Type '{content_type}' is not supported: send application/scim+json or application/json"
                )));
            }
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(body_rejection)?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|err| {
            ScimError::invalid_syntax(format!("the request body is not valid JSON: {err}"))
        })?;
        if !value.is_object() {
            return Err(ScimError::invalid_syntax("the request body must be a JSON object").into());
        }
        if let Some(location) = find_nul(&value, "") {
            // Databases cannot store text containing U+0000.
            return Err(ScimError::invalid_value(format!(
                "the value at '{location}' contains the NUL character (\\u0000), which is not allowed"
            ))
            .into());
        }
        Ok(ScimJson(value))
    }
}

/// Returns the JSON Pointer of the first key or string containing U+0000.
fn find_nul(value: &Value, location: &str) -> Option<String> {
    match value {
        Value::String(text) if text.contains('\0') => Some(location.to_owned()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| find_nul(item, &format!("{location}/{index}"))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let child = format!("{location}/{}", key.replace('~', "~0").replace('/', "~1"));
            if key.contains('\0') {
                Some(child)
            } else {
                find_nul(item, &child)
            }
        }),
        _ => None,
    }
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    let text = rejection.body_text();
    if text.to_lowercase().contains("length limit") {
        return ApiError::PayloadTooLarge(
            "the request body is larger than the configured maximum (--max-body-bytes)".into(),
        );
    }
    ScimError::invalid_syntax(format!("failed to read the request body: {text}")).into()
}

/// Rejects a `filter` parameter with 403, as RFC 7644 §4 requires of the
/// discovery endpoints, which cannot be filtered.
#[derive(Clone, Copy, Debug)]
pub struct NoFilter;

impl<S> FromRequestParts<S> for NoFilter
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let QueryPairs(pairs) = QueryPairs::from_request_parts(parts, state).await?;
        if pairs
            .iter()
            .any(|(key, _)| key.eq_ignore_ascii_case("filter"))
        {
            return Err(ApiError::Forbidden(
                "discovery endpoints cannot be filtered: remove the 'filter' parameter",
            ));
        }
        Ok(NoFilter)
    }
}

/// Query parameters as a list of pairs, so that names can be matched
/// ignoring case. A malformed query string is a SCIM 400.
#[derive(Clone, Debug, Default)]
pub struct QueryPairs(pub Vec<(String, String)>);

impl<S> FromRequestParts<S> for QueryPairs
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                ScimError::invalid_value(format!("invalid query string: {}", rejection.body_text()))
            })?;
        Ok(QueryPairs(pairs))
    }
}

/// Parses an `If-Match` header (RFC 7232 §3.1) into versions. An entity tag
/// that is not one of ours can never match, so it becomes version -1.
pub fn parse_if_match(parts: &axum::http::HeaderMap) -> IfMatch {
    match parts.get(IF_MATCH).and_then(|value| value.to_str().ok()) {
        Some(value) => parse_if_match_value(value),
        None => IfMatch::None,
    }
}

/// Returns true when an `If-None-Match` header (RFC 7232 §3.2) names the
/// current version, so that a read can return 304 Not Modified.
pub fn if_none_match_hits(headers: &axum::http::HeaderMap, version: i64) -> bool {
    let Some(value) = headers
        .get(axum::http::header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    match parse_if_match_value(value) {
        IfMatch::Any => true,
        IfMatch::Versions(versions) => versions.contains(&version),
        IfMatch::None => false,
    }
}

/// Parses an `If-Match` value: `*` or a list of entity tags.
pub fn parse_if_match_value(value: &str) -> IfMatch {
    if value.trim() == "*" {
        return IfMatch::Any;
    }
    let versions = value
        .split(',')
        .map(|tag| {
            let tag = tag.trim();
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            tag.trim_matches('"').parse::<i64>().unwrap_or(-1)
        })
        .collect();
    IfMatch::Versions(versions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

    fn headers(if_match: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(IF_MATCH, HeaderValue::from_str(if_match).unwrap());
        headers
    }

    #[test]
    fn if_match_weak_and_strong() {
        assert_eq!(
            parse_if_match(&headers("W/\"3\"")),
            IfMatch::Versions(vec![3])
        );
        assert_eq!(
            parse_if_match(&headers("\"3\", W/\"4\"")),
            IfMatch::Versions(vec![3, 4])
        );
        assert_eq!(parse_if_match(&headers("*")), IfMatch::Any);
        assert_eq!(
            parse_if_match(&headers("\"abc\"")),
            IfMatch::Versions(vec![-1])
        );
        assert_eq!(parse_if_match(&HeaderMap::new()), IfMatch::None);
    }

    #[test]
    fn json_media_types() {
        assert!(is_json_media_type("application/scim+json"));
        assert!(is_json_media_type("application/json; charset=utf-8"));
        assert!(is_json_media_type("Application/SCIM+JSON;charset=UTF-8"));
        assert!(!is_json_media_type("text/plain"));
        assert!(!is_json_media_type("application/xml"));
    }
}
