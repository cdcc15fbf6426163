//! Cursor tokens for cursor-based paging (RFC 9865).
//!
//! A cursor is the position after the last resource of a page in the
//! query's order: the sort key of that resource and its id. It also carries
//! a fingerprint of the query (resource type, filter and sort), so that a
//! cursor used with another query is rejected, and its issue time, so that
//! it expires after [`CURSOR_TIMEOUT_SECS`]. The token is base64url-encoded
//! JSON with a checksum; it is opaque to clients.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::{ScimError, ScimType};

/// Seconds a cursor stays valid after the page that returned it, advertised
/// as `pagination.cursorTimeout`.
pub const CURSOR_TIMEOUT_SECS: i64 = 3600;

/// Maximum accepted cursor length in bytes; real cursors are far shorter.
const MAX_CURSOR_LEN: usize = 2048;

/// A position in a query's order: after the resource with this sort key and id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CursorPosition {
    /// Sort key of the last resource returned: the `sortBy` value, or the
    /// creation time as RFC 3339 text when the query has no `sortBy`.
    pub key: Value,
    /// Id of the last resource returned, which breaks ties.
    pub id: Uuid,
}

#[derive(Serialize, Deserialize)]
struct Token {
    /// Query fingerprint.
    q: String,
    /// Issue time, Unix seconds.
    t: i64,
    /// Position.
    p: CursorPosition,
    /// Checksum of the fields above.
    c: String,
}

fn checksum(query: &str, issued_at: i64, position: &CursorPosition) -> String {
    let mut hasher = Sha256::new();
    hasher.update(query.as_bytes());
    hasher.update(issued_at.to_be_bytes());
    hasher.update(position.key.to_string().as_bytes());
    hasher.update(position.id.as_bytes());
    hex::encode(&hasher.finalize()[..8])
}

/// Fingerprints the parts of a query that fix its order and result set.
pub fn query_fingerprint(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(&hasher.finalize()[..12])
}

/// Encodes a cursor for `position` of the query with fingerprint `query`.
pub fn encode_cursor(query: &str, issued_at: i64, position: &CursorPosition) -> String {
    let token = Token {
        q: query.to_owned(),
        t: issued_at,
        c: checksum(query, issued_at, position),
        p: position.clone(),
    };
    let json = serde_json::to_vec(&token).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

fn invalid_cursor(detail: &str) -> ScimError {
    ScimError {
        status: 400,
        scim_type: Some(ScimType::InvalidCursor),
        detail: format!("invalid cursor: {detail}; start again with an empty 'cursor' parameter"),
    }
}

/// Decodes a cursor issued for the query with fingerprint `query`. Fails
/// with `invalidCursor` for a malformed, altered or foreign cursor and with
/// `expiredCursor` for one older than [`CURSOR_TIMEOUT_SECS`] at `now`.
pub fn decode_cursor(cursor: &str, query: &str, now: i64) -> Result<CursorPosition, ScimError> {
    if cursor.len() > MAX_CURSOR_LEN {
        return Err(invalid_cursor("it is too long"));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| invalid_cursor("it is not a cursor returned by this server"))?;
    let token: Token = serde_json::from_slice(&bytes)
        .map_err(|_| invalid_cursor("it is not a cursor returned by this server"))?;
    if token.c != checksum(&token.q, token.t, &token.p) {
        return Err(invalid_cursor("it was altered"));
    }
    if token.q != query {
        return Err(invalid_cursor(
            "it belongs to a query with another filter or sort order",
        ));
    }
    if now - token.t > CURSOR_TIMEOUT_SECS {
        return Err(ScimError {
            status: 400,
            scim_type: Some(ScimType::ExpiredCursor),
            detail: format!(
                "the cursor expired: cursors are valid for {CURSOR_TIMEOUT_SECS} seconds; start again with an empty 'cursor' parameter"
            ),
        });
    }
    Ok(token.p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn position() -> CursorPosition {
        CursorPosition {
            key: json!("ada@example.com"),
            id: Uuid::nil(),
        }
    }

    #[test]
    fn cursor_round_trip() {
        let query = query_fingerprint(&["User", "userName pr", "userName", "ascending"]);
        let cursor = encode_cursor(&query, 1000, &position());
        assert_eq!(decode_cursor(&cursor, &query, 1000).unwrap(), position());
    }

    #[test]
    fn cursor_for_other_query_is_invalid() {
        let query = query_fingerprint(&["User", "a"]);
        let other = query_fingerprint(&["User", "b"]);
        let cursor = encode_cursor(&query, 1000, &position());
        let err = decode_cursor(&cursor, &other, 1000).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidCursor));
    }

    #[test]
    fn cursor_expires() {
        let query = query_fingerprint(&["User"]);
        let cursor = encode_cursor(&query, 1000, &position());
        let err = decode_cursor(&cursor, &query, 1000 + CURSOR_TIMEOUT_SECS + 1).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::ExpiredCursor));
        assert!(decode_cursor(&cursor, &query, 1000 + CURSOR_TIMEOUT_SECS).is_ok());
    }

    #[test]
    fn garbage_cursor_is_invalid() {
        let query = query_fingerprint(&["User"]);
        for cursor in ["", "abc", "!!!", &"A".repeat(5000)] {
            let err = decode_cursor(cursor, &query, 0).unwrap_err();
            assert_eq!(err.scim_type, Some(ScimType::InvalidCursor), "{cursor}");
        }
    }

    #[test]
    fn altered_cursor_is_invalid() {
        let query = query_fingerprint(&["User"]);
        let cursor = encode_cursor(&query, 1000, &position());
        let mut token: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&cursor).unwrap()).unwrap();
        token["p"]["key"] = json!("zzz");
        let altered = URL_SAFE_NO_PAD.encode(token.to_string());
        let err = decode_cursor(&altered, &query, 1000).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidCursor));
    }
}
