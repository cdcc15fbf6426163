//! JWT bearer tokens for the application API (RFC 7519), for applications
//! that already have an identity provider of their own.
//!
//! A token is accepted when its signature verifies with a configured key:
//! an HS256 secret, an RS256 or ES256 public key in PEM, or the keys of a
//! JWKS file. Its `alg` must be that key's algorithm, `exp` must be in the
//! future, `nbf` (if present) must have passed, and `iss` and `aud` must
//! equal the configured values. A claim (by default `scimgate_directory`) names the directory the
//! token may read. Validation is done by the `jsonwebtoken` crate with a
//! leeway of 60 seconds on time claims.

use std::path::PathBuf;

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::config::{ConfigError, Secret};

/// Default name of the claim that names the directory.
pub const DEFAULT_DIRECTORY_CLAIM: &str = "scimgate_directory";

/// JWT settings as configured; no key at all disables JWT authentication.
#[derive(Clone, Debug, Default)]
pub struct JwtSettings {
    /// Shared secret for HS256.
    pub hs256_secret: Option<Secret>,
    /// PEM file with an RSA (RS256) or EC P-256 (ES256) public key.
    pub public_key_file: Option<PathBuf>,
    /// JSON Web Key Set file with RSA or EC P-256 public keys.
    pub jwks_file: Option<PathBuf>,
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Required `aud`.
    pub audience: Option<String>,
    /// Claim whose string value is the name of the directory.
    pub directory_claim: Option<String>,
}

struct VerificationKey {
    key_id: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Validates JWT bearer tokens against the configured keys.
pub struct JwtVerifier {
    keys: Vec<VerificationKey>,
    issuer: String,
    audience: String,
    directory_claim: String,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("keys", &self.keys.len())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("directory_claim", &self.directory_claim)
            .finish()
    }
}

/// Reason a JWT was rejected. The message is safe to send to the client.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JwtError(pub String);

fn config_error(setting: &'static str, message: String) -> ConfigError {
    ConfigError { setting, message }
}

fn read_file(path: &PathBuf, setting: &'static str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path)
        .map_err(|err| config_error(setting, format!("cannot read {}: {err}", path.display())))
}

fn pem_key(path: &PathBuf) -> Result<VerificationKey, ConfigError> {
    const SETTING: &str = "--jwt-public-key-file (SCIMGATE_JWT_PUBLIC_KEY_FILE)";
    let pem = read_file(path, SETTING)?;
    let (algorithm, key) = if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
        (Algorithm::RS256, key)
    } else if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
        (Algorithm::ES256, key)
    } else {
        return Err(config_error(
            SETTING,
            format!(
                "{} is not a PEM-encoded RSA or EC P-256 public key",
                path.display()
            ),
        ));
    };
    Ok(VerificationKey {
        key_id: None,
        algorithm,
        key,
    })
}

fn jwks_keys(path: &PathBuf) -> Result<Vec<VerificationKey>, ConfigError> {
    const SETTING: &str = "--jwt-jwks-file (SCIMGATE_JWT_JWKS_FILE)";
    let text = read_file(path, SETTING)?;
    let set: JwkSet = serde_json::from_slice(&text).map_err(|err| {
        config_error(
            SETTING,
            format!("{} is not a JSON Web Key Set: {err}", path.display()),
        )
    })?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        let name = jwk
            .common
            .key_id
            .clone()
            .unwrap_or_else(|| "(no kid)".into());
        let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
            (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
            (AlgorithmParameters::EllipticCurve(_), None | Some(KeyAlgorithm::ES256)) => {
                Algorithm::ES256
            }
            _ => {
                return Err(config_error(
                    SETTING,
                    format!("key {name} in {} is neither an RS256 nor an ES256 key; remove it or use one of those algorithms", path.display()),
                ))
            }
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|err| {
            config_error(
                SETTING,
                format!("key {name} in {} is invalid: {err}", path.display()),
            )
        })?;
        keys.push(VerificationKey {
            key_id: jwk.common.key_id.clone(),
            algorithm,
            key,
        });
    }
    if keys.is_empty() {
        return Err(config_error(
            SETTING,
            format!("{} has no keys", path.display()),
        ));
    }
    Ok(keys)
}

impl JwtVerifier {
    /// Loads the configured keys; `Ok(None)` when no key is configured.
    ///
    /// NOTE: key files are read only here, at start-up, so a rotated JWKS
    /// takes effect after a restart.
    /// Fails when a key is configured without an issuer or audience, or a
    /// key file cannot be read.
    pub fn from_settings(settings: &JwtSettings) -> Result<Option<Self>, ConfigError> {
        let mut keys = Vec::new();
        if let Some(secret) = &settings.hs256_secret {
            if secret.expose().len() < 32 {
                return Err(config_error(
                    "--jwt-hs256-secret (SCIMGATE_JWT_HS256_SECRET)",
                    "the secret must be at least 32 bytes long".into(),
                ));
            }
            keys.push(VerificationKey {
                key_id: None,
                algorithm: Algorithm::HS256,
                key: DecodingKey::from_secret(secret.expose().as_bytes()),
            });
        }
        if let Some(path) = &settings.public_key_file {
            keys.push(pem_key(path)?);
        }
        if let Some(path) = &settings.jwks_file {
            keys.extend(jwks_keys(path)?);
        }
        if keys.is_empty() {
            return Ok(None);
        }
        let issuer = settings.issuer.clone().ok_or_else(|| {
            config_error(
                "--jwt-issuer (SCIMGATE_JWT_ISSUER)",
                "missing: JWT keys are configured, so set the issuer that tokens must name in 'iss'".into(),
            )
        })?;
        let audience = settings.audience.clone().ok_or_else(|| {
            config_error(
                "--jwt-audience (SCIMGATE_JWT_AUDIENCE)",
                "missing: JWT keys are configured, so set the audience that tokens must name in 'aud'".into(),
            )
        })?;
        Ok(Some(JwtVerifier {
            keys,
            issuer,
            audience,
            directory_claim: settings
                .directory_claim
                .clone()
                .unwrap_or_else(|| DEFAULT_DIRECTORY_CLAIM.to_owned()),
        }))
    }

    /// Validates a token and returns the directory name its claim names.
    pub fn verify(&self, token: &str) -> Result<String, JwtError> {
        let header = decode_header(token)
            .map_err(|err| JwtError(format!("the bearer token is not a valid JWT: {err}")))?;
        let candidates = self.keys.iter().filter(|key| {
            key.algorithm == header.alg
                && match (&header.kid, &key.key_id) {
                    (Some(wanted), Some(have)) => wanted == have,
                    _ => true,
                }
        });
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        // `nbf` is optional, but a token that carries one is refused early.
        validation.validate_nbf = true;

        let mut last_error = None;
        for candidate in candidates {
            match decode::<Map<String, Value>>(token, &candidate.key, &validation) {
                Ok(data) => return self.directory_of(&data.claims),
                Err(err) => last_error = Some(err),
            }
        }
        Err(match last_error {
            Some(err) => JwtError(format!("the JWT was rejected: {err}")),
            None => JwtError(format!(
                "no configured key verifies JWTs signed with {:?}{}",
                header.alg,
                header
                    .kid
                    .map(|kid| format!(" and kid '{kid}'"))
                    .unwrap_or_default()
            )),
        })
    }

    fn directory_of(&self, claims: &Map<String, Value>) -> Result<String, JwtError> {
        claims
            .get(&self.directory_claim)
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                JwtError(format!(
                    "the JWT has no string claim '{}' naming the directory",
                    self.directory_claim
                ))
            })
    }
}
