//! Bearer tokens: generation, hashing and constant-time verification.
//!
//! A token is `scimgate_` followed by 64 hex digits of randomness. The first
//! 12 digits are a public lookup prefix stored in clear, so that a request
//! finds its candidate rows by index. The whole token is stored only as a
//! SHA-256 hash and compared in constant time. Tokens carry 256 bits of
//! randomness, so a fast hash is enough: there is nothing to brute-force.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::{Store, StoreError, TokenRecord, TokenScope};

const TOKEN_PREFIX: &str = "scimgate_";
const SECRET_HEX_LEN: usize = 64;
const LOOKUP_LEN: usize = 12;

/// A newly generated token: the secret is shown once and never stored.
#[derive(Clone)]
pub struct GeneratedToken {
    /// The full token to give to the client.
    pub secret: String,
    /// Public lookup prefix.
    pub lookup_prefix: String,
    /// SHA-256 of `secret`.
    pub hash: Vec<u8>,
}

impl std::fmt::Debug for GeneratedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedToken")
            .field("lookup_prefix", &self.lookup_prefix)
            .finish_non_exhaustive()
    }
}

/// Generates a random token.
pub fn generate_token() -> GeneratedToken {
    let mut bytes = [0u8; SECRET_HEX_LEN / 2];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let digits = hex::encode(bytes);
    let secret = format!("{TOKEN_PREFIX}{digits}");
    GeneratedToken {
        lookup_prefix: digits[..LOOKUP_LEN].to_owned(),
        hash: hash_token(&secret),
        secret,
    }
}

/// SHA-256 of a token.
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Returns the lookup prefix of a well-formed token, `None` otherwise.
pub fn lookup_prefix(token: &str) -> Option<&str> {
    let digits = token.strip_prefix(TOKEN_PREFIX)?;
    let well_formed = digits.len() == SECRET_HEX_LEN
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    well_formed.then(|| &digits[..LOOKUP_LEN])
}

/// Finds the live token matching `token`, whatever its scope; `None` for an
/// unknown, revoked or malformed token.
pub async fn find_token(store: &dyn Store, token: &str) -> Result<Option<TokenRecord>, StoreError> {
    let Some(prefix) = lookup_prefix(token) else {
        return Ok(None);
    };
    let hash = hash_token(token);
    let candidates = store.live_tokens_by_prefix(prefix).await?;
    let mut found = None;
    for candidate in candidates {
        // Compare every candidate so timing does not depend on which matched.
        let matches: bool = candidate.hash.ct_eq(&hash).into();
        if matches {
            found = Some(candidate.record);
        }
    }
    Ok(found)
}

/// Finds the live token of `scope` matching `token`; `None` for an unknown,
/// revoked or malformed token, or one of another scope.
pub async fn verify_token(
    store: &dyn Store,
    token: &str,
    scope: TokenScope,
) -> Result<Option<TokenRecord>, StoreError> {
    let found = find_token(store, token).await?;
    Ok(found.filter(|record| record.scope == scope))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_token_is_well_formed() {
        let token = generate_token();
        assert!(token.secret.starts_with("scimgate_"));
        assert_eq!(token.secret.len(), 9 + 64);
        assert_eq!(
            lookup_prefix(&token.secret),
            Some(token.lookup_prefix.as_str())
        );
        assert_eq!(token.hash, hash_token(&token.secret));
    }

    #[test]
    fn tokens_differ() {
        assert_ne!(generate_token().secret, generate_token().secret);
    }

    #[test]
    fn malformed_tokens_have_no_prefix() {
        assert_eq!(lookup_prefix("scimgate_abc"), None);
        assert_eq!(lookup_prefix(&format!("other_{}", "a".repeat(64))), None);
        assert_eq!(lookup_prefix(&format!("scimgate_{}", "G".repeat(64))), None);
    }

    #[test]
    fn debug_hides_secret() {
        let token = generate_token();
        let shown = format!("{token:?}");
        assert!(!shown.contains(&token.secret));
    }
}
