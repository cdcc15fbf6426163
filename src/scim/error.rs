//! SCIM error values (RFC 7644 §3.12): an HTTP status, an optional
//! `scimType` keyword and a human-readable `detail`.

use serde_json::{json, Value};

use super::schema;

/// The `scimType` keyword of an error response (RFC 7644 §3.12, table 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    /// The filter syntax was invalid or named an unknown attribute.
    InvalidFilter,
    /// The filter would return more results than the server allows.
    TooMany,
    /// A unique attribute value is already in use.
    Uniqueness,
    /// The request tried to change a read-only or immutable attribute.
    Mutability,
    /// The request body was not a valid SCIM message.
    InvalidSyntax,
    /// A PATCH `path` was invalid or malformed.
    InvalidPath,
    /// A PATCH `path` matched no attribute or element.
    NoTarget,
    /// A value was missing or had the wrong type for its attribute.
    InvalidValue,
    /// The requested protocol version is not supported.
    InvalidVers,
    /// The request carried sensitive data in a URI.
    Sensitive,
    /// A `cursor` value that this server did not issue for this query
    /// (RFC 9865 §3).
    InvalidCursor,
    /// A `cursor` value that has expired (RFC 9865 §3).
    ExpiredCursor,
}

impl ScimType {
    /// Returns the keyword as it appears in the `scimType` response field.
    pub fn as_str(&self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
            ScimType::InvalidCursor => "invalidCursor",
            ScimType::ExpiredCursor => "expiredCursor",
        }
    }
}

impl std::fmt::Display for ScimType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SCIM protocol error that the HTTP layer turns into an error response.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{detail}")]
pub struct ScimError {
    /// HTTP status code, e.g. 400 or 409.
    pub status: u16,
    /// The `scimType` keyword; RFC 7644 defines keywords only for 400 and 409.
    pub scim_type: Option<ScimType>,
    /// Message for the client naming the offending attribute or value.
    pub detail: String,
}

impl ScimError {
    fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        ScimError {
            status: 400,
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }

    /// Creates a 400 `invalidFilter` error.
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidFilter, detail)
    }

    /// Creates a 400 `invalidSyntax` error.
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidSyntax, detail)
    }

    /// Creates a 400 `invalidPath` error.
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidPath, detail)
    }

    /// Creates a 400 `noTarget` error.
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::NoTarget, detail)
    }

    /// Creates a 400 `invalidValue` error.
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidValue, detail)
    }

    /// Creates a 400 `mutability` error.
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::Mutability, detail)
    }

    /// Creates a 409 `uniqueness` error.
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        ScimError {
            status: 409,
            scim_type: Some(ScimType::Uniqueness),
            detail: detail.into(),
        }
    }

    /// Creates a 400 `tooMany` error.
    pub fn too_many(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::TooMany, detail)
    }

    /// Builds the error response body (RFC 7644 §3.12), where `status` is a
    /// JSON string as the RFC's examples show it.
    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "schemas": [schema::ERROR],
            "status": self.status.to_string(),
        });
        if let (Some(scim_type), Some(object)) = (self.scim_type, body.as_object_mut()) {
            object.insert("scimType".into(), Value::from(scim_type.as_str()));
        }
        if let Some(object) = body.as_object_mut() {
            object.insert("detail".into(), Value::from(self.detail.clone()));
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scim_type_keywords() {
        let cases = [
            (ScimType::InvalidFilter, "invalidFilter"),
            (ScimType::TooMany, "tooMany"),
            (ScimType::Uniqueness, "uniqueness"),
            (ScimType::Mutability, "mutability"),
            (ScimType::InvalidSyntax, "invalidSyntax"),
            (ScimType::InvalidPath, "invalidPath"),
            (ScimType::NoTarget, "noTarget"),
            (ScimType::InvalidValue, "invalidValue"),
            (ScimType::InvalidVers, "invalidVers"),
            (ScimType::Sensitive, "sensitive"),
        ];
        for (scim_type, keyword) in cases {
            assert_eq!(scim_type.as_str(), keyword);
        }
    }

    #[test]
    fn constructors_set_status() {
        assert_eq!(ScimError::uniqueness("taken").status, 409);
        assert_eq!(ScimError::invalid_filter("x").status, 400);
        assert_eq!(
            ScimError::no_target("x").scim_type,
            Some(ScimType::NoTarget)
        );
        assert_eq!(ScimError::mutability("m").to_string(), "m");
    }

    #[test]
    fn error_response_body() {
        let body = ScimError::invalid_value("attribute 'userName' is required").to_json();
        assert_eq!(
            body,
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "400",
                "scimType": "invalidValue",
                "detail": "attribute 'userName' is required",
            })
        );
    }
}
