//! Query parameters of list and search requests (RFC 7644 §3.4.2, §3.4.3,
//! §3.9, and RFC 9865 for cursors): `filter`, `sortBy`, `sortOrder`,
//! `startIndex`, `count`, `cursor`, `attributes`, `excludedAttributes`.
//! Parameter names are matched case-insensitively.

use serde_json::Value;

use super::cursor::{decode_cursor, query_fingerprint, CursorPosition};
use super::error::ScimError;
use super::filter::{parse_filter, Filter};
use super::path::{resolve, ResolvedPath};
use super::projection::Projection;
use super::schema::{ResourceKind, SEARCH_REQUEST};

/// Page size when the client sends no `count`.
pub const DEFAULT_COUNT: u64 = 100;
/// Largest page, advertised as `filter.maxResults`; larger counts are clamped.
pub const MAX_COUNT: u64 = 1000;

/// List parameters as sent, before they are checked against a schema.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawListParams {
    /// `filter`.
    pub filter: Option<String>,
    /// `sortBy`.
    pub sort_by: Option<String>,
    /// `sortOrder`.
    pub sort_order: Option<String>,
    /// `startIndex`.
    pub start_index: Option<i64>,
    /// `count`.
    pub count: Option<i64>,
    /// `cursor`; an empty string requests the first page.
    pub cursor: Option<String>,
    /// `attributes`, comma-separated.
    pub attributes: Option<String>,
    /// `excludedAttributes`, comma-separated.
    pub excluded_attributes: Option<String>,
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

impl RawListParams {
    /// Reads the parameters from query-string pairs.
    pub fn from_query(pairs: &[(String, String)]) -> Result<Self, ScimError> {
        let integer = |name| {
            find(pairs, name)
                .map(|value| parse_integer(name, value))
                .transpose()
        };
        Ok(RawListParams {
            filter: find(pairs, "filter").map(str::to_owned),
            sort_by: find(pairs, "sortBy").map(str::to_owned),
            sort_order: find(pairs, "sortOrder").map(str::to_owned),
            start_index: integer("startIndex")?,
            count: integer("count")?,
            cursor: find(pairs, "cursor").map(str::to_owned),
            attributes: find(pairs, "attributes").map(str::to_owned),
            excluded_attributes: find(pairs, "excludedAttributes").map(str::to_owned),
        })
    }

    /// Reads the parameters from a `SearchRequest` body (RFC 7644 §3.4.3).
    pub fn from_search_request(body: &Value) -> Result<Self, ScimError> {
        let Some(fields) = body.as_object() else {
            return Err(ScimError::invalid_syntax(
                "the search request must be a JSON object",
            ));
        };
        let get = |name: &str| {
            fields
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value)
        };
        let schemas_ok = get("schemas")
            .and_then(Value::as_array)
            .is_some_and(|schemas| schemas.iter().any(|s| s.as_str() == Some(SEARCH_REQUEST)));
        if !schemas_ok {
            return Err(ScimError::invalid_syntax(format!(
                "'schemas' must contain '{SEARCH_REQUEST}'"
            )));
        }
        let string = |name: &str| -> Result<Option<String>, ScimError> {
            match get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) => Ok(Some(text.clone())),
                Some(other) => Err(ScimError::invalid_value(format!(
                    "'{name}' must be a string, got {other}"
                ))),
            }
        };
        let integer = |name: &str| -> Result<Option<i64>, ScimError> {
            match get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(value) => value.as_i64().map(Some).ok_or_else(|| {
                    ScimError::invalid_value(format!("'{name}' must be an integer, got {value}"))
                }),
            }
        };
        let names = |name: &str| -> Result<Option<String>, ScimError> {
            match get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Array(items)) => {
                    let mut list = Vec::with_capacity(items.len());
                    for item in items {
                        let text = item.as_str().ok_or_else(|| {
                            ScimError::invalid_value(format!(
                                "'{name}' must be an array of strings, got {item} in it"
                            ))
                        })?;
                        list.push(text);
                    }
                    Ok(Some(list.join(",")))
                }
                Some(Value::String(text)) => Ok(Some(text.clone())),
                Some(other) => Err(ScimError::invalid_value(format!(
                    "'{name}' must be an array of strings, got {other}"
                ))),
            }
        };
        Ok(RawListParams {
            filter: string("filter")?,
            sort_by: string("sortBy")?,
            sort_order: string("sortOrder")?,
            start_index: integer("startIndex")?,
            count: integer("count")?,
            cursor: string("cursor")?,
            attributes: names("attributes")?,
            excluded_attributes: names("excludedAttributes")?,
        })
    }

    /// Returns true when the request uses cursor paging.
    pub fn uses_cursor(&self) -> bool {
        self.cursor.is_some()
    }
}

/// A `sortBy` attribute with its direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortKey {
    /// The attribute, a singular one or a sub-attribute.
    pub path: ResolvedPath,
    /// `sortOrder=descending`.
    pub descending: bool,
}

/// Paging mode of a list request.
#[derive(Clone, Debug, PartialEq)]
pub enum Paging {
    /// `startIndex` paging (RFC 7644 §3.4.2.4), 1-based.
    Index {
        /// Index of the first result; values below 1 are read as 1.
        start_index: u64,
    },
    /// Cursor paging (RFC 9865): after this position, or from the start.
    Cursor(Option<CursorPosition>),
}

/// Parsed list parameters for one resource type.
#[derive(Clone, Debug)]
pub struct ListParams {
    /// The filter, resolved against the resource type's schema.
    pub filter: Option<Filter>,
    /// The sort order; without it resources come in creation order.
    pub sort: Option<SortKey>,
    /// Index or cursor paging.
    pub paging: Paging,
    /// Page size, at most [`MAX_COUNT`]; negative values are read as 0.
    pub count: u64,
    /// Attribute selection.
    pub projection: Projection,
    /// Fingerprint of the query, which cursors carry.
    pub fingerprint: String,
}

/// Parses a `sortBy` value: a known, singular attribute or sub-attribute.
pub fn parse_sort(
    kind: ResourceKind,
    sort_by: Option<&str>,
    sort_order: Option<&str>,
) -> Result<Option<SortKey>, ScimError> {
    let Some(sort_by) = sort_by.map(str::trim).filter(|text| !text.is_empty()) else {
        return Ok(None);
    };
    let path = resolve(kind, sort_by)
        .ok()
        .filter(ResolvedPath::is_known)
        .ok_or_else(|| {
            ScimError::invalid_value(format!("sortBy: unknown attribute '{sort_by}'"))
        })?;
    let descending = match sort_order.map(str::trim) {
        None | Some("") => false,
        Some(order) if order.eq_ignore_ascii_case("ascending") => false,
        Some(order) if order.eq_ignore_ascii_case("descending") => true,
        Some(order) => {
            return Err(ScimError::invalid_value(format!(
                "sortOrder must be 'ascending' or 'descending', got '{order}'"
            )))
        }
    };
    Ok(Some(SortKey { path, descending }))
}

impl ListParams {
    /// Checks raw parameters against the schema of `kind`; `now` (Unix
    /// seconds) decides whether a cursor has expired.
    pub fn resolve(kind: ResourceKind, raw: &RawListParams, now: i64) -> Result<Self, ScimError> {
        let filter_text = raw.filter.as_deref().map(str::trim).unwrap_or("");
        let filter = if filter_text.is_empty() {
            None
        } else {
            Some(parse_filter(kind, filter_text)?)
        };
        let sort = parse_sort(kind, raw.sort_by.as_deref(), raw.sort_order.as_deref())?;
        let fingerprint = query_fingerprint(&[
            kind.name(),
            filter_text,
            &sort
                .as_ref()
                .map(|key| key.path.to_string())
                .unwrap_or_default(),
            if sort.as_ref().is_some_and(|key| key.descending) {
                "descending"
            } else {
                "ascending"
            },
        ]);
        let count = match raw.count {
            Some(count) => u64::try_from(count.max(0)).unwrap_or(0).min(MAX_COUNT),
            None => DEFAULT_COUNT,
        };
        let paging = match (&raw.cursor, raw.start_index) {
            (Some(_), Some(_)) => return Err(ScimError::invalid_value(
                "'cursor' and 'startIndex' cannot be used together: choose cursor or index paging",
            )),
            (Some(cursor), None) if cursor.trim().is_empty() => Paging::Cursor(None),
            (Some(cursor), None) => Paging::Cursor(Some(decode_cursor(cursor, &fingerprint, now)?)),
            (None, start_index) => Paging::Index {
                start_index: u64::try_from(start_index.unwrap_or(1).max(1)).unwrap_or(1),
            },
        };
        Ok(ListParams {
            filter,
            sort,
            paging,
            count,
            projection: Projection::parse(
                kind,
                raw.attributes.as_deref(),
                raw.excluded_attributes.as_deref(),
            )?,
            fingerprint,
        })
    }

    /// Parses the query pairs of a list request.
    pub fn parse(kind: ResourceKind, pairs: &[(String, String)]) -> Result<Self, ScimError> {
        let now = chrono::Utc::now().timestamp();
        Self::resolve(kind, &RawListParams::from_query(pairs)?, now)
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
    use crate::scim::cursor::encode_cursor;
    use crate::scim::error::ScimType;
    use serde_json::json;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_without_parameters() {
        let params = ListParams::parse(ResourceKind::User, &[]).unwrap();
        assert_eq!(params.paging, Paging::Index { start_index: 1 });
        assert_eq!(params.count, DEFAULT_COUNT);
        assert!(params.filter.is_none());
        assert!(params.sort.is_none());
    }

    #[test]
    fn start_index_below_one_reads_as_one() {
        let params =
            ListParams::parse(ResourceKind::User, &pairs(&[("startIndex", "-5")])).unwrap();
        assert_eq!(params.paging, Paging::Index { start_index: 1 });
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
        assert_eq!(err.scim_type, Some(ScimType::InvalidFilter));
    }

    #[test]
    fn sort_parameters() {
        let params = ListParams::parse(
            ResourceKind::User,
            &pairs(&[("sortBy", "NAME.familyName"), ("sortOrder", "Descending")]),
        )
        .unwrap();
        let sort = params.sort.unwrap();
        assert_eq!(sort.path.to_string(), "name.familyName");
        assert!(sort.descending);

        let err = ListParams::parse(ResourceKind::User, &pairs(&[("sortBy", "nope")])).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
        let err = ListParams::parse(
            ResourceKind::User,
            &pairs(&[("sortBy", "userName"), ("sortOrder", "sideways")]),
        )
        .unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn cursor_parameters() {
        let first = ListParams::parse(ResourceKind::User, &pairs(&[("cursor", "")])).unwrap();
        assert_eq!(first.paging, Paging::Cursor(None));

        let position = CursorPosition {
            key: json!("x"),
            id: uuid::Uuid::nil(),
        };
        let now = chrono::Utc::now().timestamp();
        let cursor = encode_cursor(&first.fingerprint, now, &position);
        let next = ListParams::parse(ResourceKind::User, &pairs(&[("cursor", &cursor)])).unwrap();
        assert_eq!(next.paging, Paging::Cursor(Some(position)));

        let err = ListParams::parse(
            ResourceKind::User,
            &pairs(&[("cursor", &cursor), ("filter", "userName pr")]),
        )
        .unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidCursor));

        let err = ListParams::parse(
            ResourceKind::User,
            &pairs(&[("cursor", ""), ("startIndex", "1")]),
        )
        .unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn search_request_body() {
        let body = json!({
            "schemas": [SEARCH_REQUEST],
            "attributes": ["userName", "emails"],
            "filter": "userName sw \"a\"",
            "startIndex": 3,
            "count": 10
        });
        let raw = RawListParams::from_search_request(&body).unwrap();
        assert_eq!(raw.attributes.as_deref(), Some("userName,emails"));
        assert_eq!(raw.start_index, Some(3));
        assert_eq!(raw.count, Some(10));

        let err = RawListParams::from_search_request(&json!({"filter": "x"})).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidSyntax));
        let err = RawListParams::from_search_request(
            &json!({"schemas": [SEARCH_REQUEST], "count": "ten"}),
        )
        .unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
    }
}
