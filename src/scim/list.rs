//! Query parameters of list and read requests (RFC 7644 §3.4.2, §3.9):
//! `filter`, `startIndex`, `count`, `attributes`, `excludedAttributes`.
//! Parameter names are matched case-insensitively.

use super::error::ScimError;
use super::filter::{parse_filter, Filter};
use super::projection::Projection;
use super::schema::ResourceKind;

/// Page size when the client sends no `count`.
pub const DEFAULT_COUNT: u64 = 100;
/// Largest page, advertised as `filter.maxResults`; larger counts are clamped.
pub const MAX_COUNT: u64 = 1000;

/// Parsed list parameters.
#[derive(Clone, Debug)]
pub struct ListParams {
    /// The filter, resolved against the resource type's schema.
    pub filter: Option<Filter>,
    /// 1-based index of the first result; values below 1 are read as 1.
    pub start_index: u64,
    /// Page size, at most [`MAX_COUNT`]; negative values are read as 0.
    pub count: u64,
    /// Attribute selection.
    pub projection: Projection,
}

fn find<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

fn parse_integer(name: &str, value: &str) -> Result<i64, ScimError> {
    value.trim().parse::<i64>().map_err(|_| {
        ScimError::invalid_value(format!(
            "query parameter '{name}' must be an integer, got '{value}'"
        ))
    })
}

impl ListParams {
    /// Parses the query pairs of a list request.
    pub fn parse(kind: ResourceKind, pairs: &[(String, String)]) -> Result<Self, ScimError> {
        let filter = match find(pairs, "filter") {
            Some(text) if !text.trim().is_empty() => Some(parse_filter(kind, text)?),
            _ => None,
        };
        let start_index = match find(pairs, "startIndex") {
            Some(value) => u64::try_from(parse_integer("startIndex", value)?.max(1)).unwrap_or(1),
            None => 1,
        };
        let count = match find(pairs, "count") {
            Some(value) => u64::try_from(parse_integer("count", value)?.max(0))
                .unwrap_or(0)
                .min(MAX_COUNT),
            None => DEFAULT_COUNT,
        };
        Ok(ListParams {
            filter,
            start_index,
            count,
            projection: parse_projection(kind, pairs)?,
        })
    }
}

/// Parses `attributes` and `excludedAttributes` alone, for single-resource
/// requests.
pub fn parse_projection(
    kind: ResourceKind,
    pairs: &[(String, String)],
) -> Result<Projection, ScimError> {
    Projection::parse(
        kind,
        find(pairs, "attributes"),
        find(pairs, "excludedAttributes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_without_parameters() {
        let params = ListParams::parse(ResourceKind::User, &[]).unwrap();
        assert_eq!(params.start_index, 1);
        assert_eq!(params.count, DEFAULT_COUNT);
        assert!(params.filter.is_none());
    }

    #[test]
    fn start_index_below_one_reads_as_one() {
        let params =
            ListParams::parse(ResourceKind::User, &pairs(&[("startIndex", "-5")])).unwrap();
        assert_eq!(params.start_index, 1);
    }

    #[test]
    fn count_is_clamped() {
        let params = ListParams::parse(ResourceKind::User, &pairs(&[("count", "5000")])).unwrap();
        assert_eq!(params.count, MAX_COUNT);
        let params = ListParams::parse(ResourceKind::User, &pairs(&[("COUNT", "-1")])).unwrap();
        assert_eq!(params.count, 0);
    }

    #[test]
    fn non_integer_count_rejected() {
        let err = ListParams::parse(ResourceKind::User, &pairs(&[("count", "ten")])).unwrap_err();
        assert_eq!(err.status, 400);
        assert!(err.detail.contains("count"), "{}", err.detail);
    }

    #[test]
    fn bad_filter_is_invalid_filter() {
        let err = ListParams::parse(ResourceKind::User, &pairs(&[("filter", "userName eq")]))
            .unwrap_err();
        assert_eq!(err.scim_type.map(|t| t.as_str()), Some("invalidFilter"));
    }
}
