//! Parsing of query parameters shared by the application API handlers.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::Problem;

/// Default page size of list endpoints.
pub const DEFAULT_LIMIT: u32 = 100;
/// Maximum page size of list endpoints.
pub const MAX_LIMIT: u32 = 1000;

/// Parses `limit`: 1 to `max`, default `default`.
pub fn parse_limit(value: Option<&str>, default: u32, max: u32) -> Result<u32, Problem> {
    let Some(text) = value else {
        return Ok(default);
    };
    text.parse::<u32>()
        .ok()
        .filter(|limit| (1..=max).contains(limit))
        .ok_or_else(|| {
            Problem::BadRequest(format!(
                "invalid limit '{text}': send an integer from 1 to {max}"
            ))
        })
}

/// Parses a UUID parameter such as `after` or `group`.
pub fn parse_uuid(name: &str, value: Option<&str>) -> Result<Option<Uuid>, Problem> {
    value
        .map(|text| {
            Uuid::parse_str(text).map_err(|_| {
                Problem::BadRequest(format!("invalid {name} '{text}': it must be a UUID"))
            })
        })
        .transpose()
}

/// Parses a boolean parameter (`true` or `false`).
pub fn parse_bool(name: &str, value: Option<&str>) -> Result<Option<bool>, Problem> {
    value
        .map(|text| match text {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(Problem::BadRequest(format!(
                "invalid {name} '{text}': send true or false"
            ))),
        })
        .transpose()
}

/// Parses an RFC 3339 timestamp parameter such as `updated_since`.
pub fn parse_time(name: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, Problem> {
    value
        .map(|text| {
            DateTime::parse_from_rfc3339(text)
                .map(|time| time.with_timezone(&Utc))
                .map_err(|err| {
                    Problem::BadRequest(format!(
                        "invalid {name} '{text}': send an RFC 3339 timestamp such as \
                         2026-01-31T12:00:00Z ({err})"
                    ))
                })
        })
        .transpose()
}

/// Converts axum's query-string rejection into a 400 that names the
/// problem (such as an unknown parameter).
pub fn query_rejection(rejection: axum::extract::rejection::QueryRejection) -> Problem {
    Problem::BadRequest(format!("invalid query string: {}", rejection.body_text()))
}

/// Parses a path id; an id that is not a UUID cannot exist, so it is a 404.
pub fn path_id(subject: &str, text: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(text).map_err(|_| Problem::NotFound(format!("{subject} '{text}' not found")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_bounds() {
        assert_eq!(parse_limit(None, 100, 1000).unwrap(), 100);
        assert_eq!(parse_limit(Some("1000"), 100, 1000).unwrap(), 1000);
        assert!(parse_limit(Some("0"), 100, 1000).is_err());
        assert!(parse_limit(Some("1001"), 100, 1000).is_err());
    }

    #[test]
    fn time_accepts_offsets() {
        let time = parse_time("updated_since", Some("2026-01-31T13:00:00+01:00"))
            .unwrap()
            .unwrap();
        assert_eq!(time.to_rfc3339(), "2026-01-31T12:00:00+00:00");
        assert!(parse_time("updated_since", Some("yesterday")).is_err());
    }
}
