//! Building SCIM responses: content type, `ETag`, `Location`, list bodies.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::scim::projection::Projection;
use crate::scim::render::{etag, render_resource, ResourceMeta};
use crate::scim::schema::ResourceKind;
use crate::store::StoredResource;

/// Media type of every SCIM response (RFC 7644 §3.1).
pub const SCIM_CONTENT_TYPE: &str = "application/scim+json; charset=utf-8";

/// Builds a JSON response with the SCIM media type.
pub fn scim_json(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SCIM_CONTENT_TYPE),
    );
    response
}

/// Renders a stored resource with `meta.location` under `base_url`.
pub fn render(kind: ResourceKind, resource: &StoredResource, base_url: &str) -> Value {
    let meta = ResourceMeta {
        kind,
        id: resource.id.to_string(),
        created: resource.created,
        last_modified: resource.last_modified,
        version: resource.version,
    };
    render_resource(
        &meta,
        &resource.attributes,
        resource.members.as_deref(),
        resource.groups.as_deref(),
        Some(base_url),
    )
}

/// Builds the response to a read: 304 Not Modified with the `ETag` when
/// `If-None-Match` names the current version (RFC 7644 §3.14), else 200
/// with the resource.
pub fn read_response(
    kind: ResourceKind,
    resource: &StoredResource,
    base_url: &str,
    projection: &Projection,
    headers: &axum::http::HeaderMap,
) -> Response {
    if super::extract::if_none_match_hits(headers, resource.version) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(value) = HeaderValue::from_str(&etag(resource.version)) {
            response.headers_mut().insert(header::ETAG, value);
        }
        return response;
    }
    resource_response(StatusCode::OK, kind, resource, base_url, projection)
}

/// Builds a single-resource response with `ETag`, and `Location` for 201.
pub fn resource_response(
    status: StatusCode,
    kind: ResourceKind,
    resource: &StoredResource,
    base_url: &str,
    projection: &Projection,
) -> Response {
    let mut body = render(kind, resource, base_url);
    let location = format!("{base_url}{}/{}", kind.endpoint(), resource.id);
    projection.apply(kind, &mut body);
    let mut response = scim_json(status, &body);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag(resource.version)) {
        headers.insert(header::ETAG, value);
    }
    if status == StatusCode::CREATED {
        if let Ok(value) = HeaderValue::from_str(&location) {
            headers.insert(header::LOCATION, value);
        }
    }
    response
}
