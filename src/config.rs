//! Typed configuration: every setting is a command-line flag and an
//! environment variable, parsed once at start-up by clap.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::http::Uri;
use clap::{Args, ValueEnum};

/// Settings shared by every subcommand.
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Database URL: postgres://user:password@host:port/database for
    /// PostgreSQL, or sqlite://PATH?mode=rwc for a SQLite file. Without it
    /// (and without --database-url-file), scimgate uses the SQLite file
    /// `scimgate.db` in --data-dir.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<Secret>,

    /// File whose first line is the database URL, for secrets mounted as files.
    #[arg(long, env = "DATABASE_URL_FILE", global = true)]
    pub database_url_file: Option<PathBuf>,

    /// Folder of the default SQLite database, created on first start if
    /// missing. Unused when --database-url or --database-url-file is set.
    #[arg(long, env = "SCIMGATE_DATA_DIR", default_value = "data", global = true)]
    pub data_dir: PathBuf,

    /// Log output format.
    #[arg(long, env = "SCIMGATE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Log filter in tracing's EnvFilter syntax, for example `info` or `scimgate=debug,info`.
    #[arg(long, env = "SCIMGATE_LOG", default_value = "info", global = true)]
    pub log_level: String,
}

impl GlobalArgs {
    /// Resolves the database URL from `--database-url` or
    /// `--database-url-file`, or else names the SQLite file in `--data-dir`.
    /// Creates nothing; see [`GlobalArgs::uses_data_dir`].
    pub fn database_url(&self) -> Result<Secret, ConfigError> {
        match (&self.database_url, &self.database_url_file) {
            (Some(url), None) => Ok(url.clone()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|err| ConfigError {
                    setting: "--database-url-file (DATABASE_URL_FILE)",
                    message: format!("cannot read {}: {err}", path.display()),
                })?;
                let url = text.lines().next().unwrap_or("").trim().to_owned();
                if url.is_empty() {
                    return Err(ConfigError {
                        setting: "--database-url-file (DATABASE_URL_FILE)",
                        message: format!("{} is empty", path.display()),
                    });
                }
                Ok(Secret(url))
            }
            (Some(_), Some(_)) => Err(ConfigError {
                setting: "--database-url (DATABASE_URL)",
                message: "set either --database-url (DATABASE_URL) or --database-url-file (DATABASE_URL_FILE), not both".into(),
            }),
            (None, None) => Ok(Secret(sqlite_url(&self.data_dir.join(SQLITE_FILE_NAME)))),
        }
    }

    /// Whether the database is the default SQLite file in `--data-dir`,
    /// whose folder the caller must create before opening it.
    pub fn uses_data_dir(&self) -> bool {
        self.database_url.is_none() && self.database_url_file.is_none()
    }
}

/// Name of the default SQLite file inside `--data-dir`.
pub const SQLITE_FILE_NAME: &str = "scimgate.db";

/// Builds a `sqlite://` URL that opens the file at `path`, creating it if missing.
/// `%`, `?` and `#` are percent-encoded because the URL parser decodes them.
pub fn sqlite_url(path: &Path) -> String {
    let mut encoded = String::new();
    for ch in path.to_string_lossy().chars() {
        match ch {
            '%' => encoded.push_str("%25"),
            '?' => encoded.push_str("%3F"),
            '#' => encoded.push_str("%23"),
            other => encoded.push(other),
        }
    }
    format!("sqlite://{encoded}?mode=rwc")
}

/// Settings of `scimgate serve`.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Socket address to listen on.
    #[arg(long, env = "SCIMGATE_LISTEN", default_value = "127.0.0.1:8080", value_parser = parse_listen)]
    pub listen: SocketAddr,

    /// Public base URL of this server as clients reach it, for example
    /// `https://scim.example.com`. Used for `meta.location` and `Location`
    /// headers; without it they are built from the request's Host header.
    #[arg(long, env = "SCIMGATE_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<PublicUrl>,

    /// Maximum request body size, in bytes.
    #[arg(long, env = "SCIMGATE_MAX_BODY_BYTES", default_value_t = 1024 * 1024,
          value_parser = |value: &str| parse_positive::<usize>(value, "--max-body-bytes", "SCIMGATE_MAX_BODY_BYTES"))]
    pub max_body_bytes: usize,

    /// Time limit for one request, in seconds; slower requests get 503.
    #[arg(long, env = "SCIMGATE_REQUEST_TIMEOUT_SECS", default_value_t = 30,
          value_parser = |value: &str| parse_positive::<u64>(value, "--request-timeout-secs", "SCIMGATE_REQUEST_TIMEOUT_SECS"))]
    pub request_timeout_secs: u64,

    /// Maximum number of database connections in the pool.
    #[arg(long, env = "SCIMGATE_DB_MAX_CONNECTIONS", default_value_t = 10,
          value_parser = |value: &str| parse_positive::<u32>(value, "--db-max-connections", "SCIMGATE_DB_MAX_CONNECTIONS"))]
    pub db_max_connections: u32,

    /// Bearer token of the admin API (/admin/v1); without it the admin API is disabled.
    #[arg(long, env = "SCIMGATE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,

    /// Shared secret (at least 32 bytes) that validates HS256 JWTs for the application API.
    #[arg(long, env = "SCIMGATE_JWT_HS256_SECRET", hide_env_values = true)]
    pub jwt_hs256_secret: Option<Secret>,

    /// PEM file with an RSA (RS256) or EC P-256 (ES256) public key that validates JWTs.
    #[arg(long, env = "SCIMGATE_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,

    /// JSON Web Key Set file whose RS256 and ES256 keys validate JWTs, chosen by `kid`.
    #[arg(long, env = "SCIMGATE_JWT_JWKS_FILE")]
    pub jwt_jwks_file: Option<PathBuf>,

    /// Issuer (`iss`) that JWTs must name; required when a JWT key is set.
    #[arg(long, env = "SCIMGATE_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Audience (`aud`) that JWTs must name; required when a JWT key is set.
    #[arg(long, env = "SCIMGATE_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// JWT claim whose value is the name of the directory the token may read.
    #[arg(long, env = "SCIMGATE_JWT_DIRECTORY_CLAIM", default_value = crate::jwt::DEFAULT_DIRECTORY_CLAIM)]
    pub jwt_directory_claim: String,

    /// How long change records are kept for the change feed, in days; older
    /// cursors get 410 Gone.
    #[arg(long, env = "SCIMGATE_EVENT_RETENTION_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub event_retention_days: u64,

    /// Longest `wait` of a change feed long-poll, in seconds; keep it below
    /// --request-timeout-secs.
    #[arg(long, env = "SCIMGATE_FEED_MAX_WAIT_SECS", default_value_t = 25)]
    pub feed_max_wait_secs: u64,

    /// Time limit of one webhook delivery attempt, in seconds.
    #[arg(long, env = "SCIMGATE_WEBHOOK_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub webhook_timeout_secs: u64,

    /// How long a replica keeps a claimed delivery, in seconds; must exceed
    /// --webhook-timeout-secs.
    #[arg(long, env = "SCIMGATE_WEBHOOK_LEASE_SECS", default_value_t = 60)]
    pub webhook_lease_secs: u64,

    /// Delay before the first retry of a failed delivery, in milliseconds;
    /// it doubles with every further failure.
    #[arg(long, env = "SCIMGATE_WEBHOOK_RETRY_BASE_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    pub webhook_retry_base_ms: u64,

    /// Maximum delay between two attempts of a delivery, in seconds.
    #[arg(long, env = "SCIMGATE_WEBHOOK_RETRY_MAX_SECS", default_value_t = 3600)]
    pub webhook_retry_max_secs: u64,

    /// Consecutive failed attempts after which an endpoint is disabled (if
    /// it has also been failing for --webhook-disable-after-secs).
    #[arg(long, env = "SCIMGATE_WEBHOOK_DISABLE_AFTER_FAILURES", default_value_t = 10, value_parser = clap::value_parser!(i32).range(1..))]
    pub webhook_disable_after_failures: i32,

    /// How long an endpoint must have been failing before it is disabled, in seconds.
    #[arg(
        long,
        env = "SCIMGATE_WEBHOOK_DISABLE_AFTER_SECS",
        default_value_t = 86_400
    )]
    pub webhook_disable_after_secs: u64,
}

impl ServeArgs {
    /// Checks settings that depend on each other.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.feed_max_wait_secs >= self.request_timeout_secs {
            return Err(ConfigError {
                setting: "--feed-max-wait-secs (SCIMGATE_FEED_MAX_WAIT_SECS)",
                message: format!(
                    "{} s must be below --request-timeout-secs ({} s), or long-polls would time out",
                    self.feed_max_wait_secs, self.request_timeout_secs
                ),
            });
        }
        if self.webhook_lease_secs <= self.webhook_timeout_secs {
            return Err(ConfigError {
                setting: "--webhook-lease-secs (SCIMGATE_WEBHOOK_LEASE_SECS)",
                message: format!(
                    "{} s must exceed --webhook-timeout-secs ({} s), or a slow attempt could be duplicated by another replica",
                    self.webhook_lease_secs, self.webhook_timeout_secs
                ),
            });
        }
        Ok(())
    }
}

/// Log output format.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A configuration value that must not appear in logs; `Debug` masks it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    /// Returns the secret value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

/// Absolute http(s) base URL without a trailing slash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicUrl(String);

impl PublicUrl {
    /// Returns the URL without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Parses a whole number of at least 1, naming the flag and variable on error.
fn parse_positive<T>(value: &str, flag: &str, variable: &str) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + From<u8>,
{
    match value.trim().parse::<T>() {
        Ok(number) if number >= T::from(1) => Ok(number),
        _ => Err(format!(
            "'{value}' is not a whole number of at least 1 (set with {flag} or {variable})"
        )),
    }
}

fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    value.parse().map_err(|_| {
        format!("'{value}' is not a socket address such as 127.0.0.1:8080 (set with --listen or SCIMGATE_LISTEN)")
    })
}

/// Parses `--public-url`: an absolute http or https URL with no query.
pub fn parse_public_url(value: &str) -> Result<PublicUrl, String> {
    let hint =
        "(set with --public-url or SCIMGATE_PUBLIC_URL, for example https://scim.example.com)";
    let uri: Uri = value
        .parse()
        .map_err(|_| format!("'{value}' is not a URL {hint}"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => {
            return Err(format!(
                "'{value}' must start with http:// or https:// {hint}"
            ))
        }
    }
    if uri.authority().is_none() {
        return Err(format!("'{value}' has no host {hint}"));
    }
    if uri.query().is_some() {
        return Err(format!("'{value}' must not have a query string {hint}"));
    }
    Ok(PublicUrl(value.trim_end_matches('/').to_owned()))
}

/// Invalid configuration, naming the flag and environment variable to fix.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration for {setting}: {message}")]
pub struct ConfigError {
    /// The flag and environment variable, for example `--listen (SCIMGATE_LISTEN)`.
    pub setting: &'static str,
    /// Description of the problem with the value.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_url_trims_trailing_slash() {
        let url = parse_public_url("https://scim.example.com/").unwrap();
        assert_eq!(url.as_str(), "https://scim.example.com");
    }

    #[test]
    fn public_url_rejects_other_schemes() {
        let err = parse_public_url("ftp://scim.example.com").unwrap_err();
        assert!(err.contains("SCIMGATE_PUBLIC_URL"), "{err}");
    }

    #[test]
    fn public_url_rejects_relative() {
        assert!(parse_public_url("/scim").is_err());
    }

    #[test]
    fn listen_error_names_variable() {
        let err = parse_listen("localhost").unwrap_err();
        assert!(err.contains("--listen"), "{err}");
        assert!(err.contains("SCIMGATE_LISTEN"), "{err}");
    }

    #[test]
    fn sqlite_url_encodes_reserved_characters() {
        assert_eq!(
            sqlite_url(Path::new("data/scimgate.db")),
            "sqlite://data/scimgate.db?mode=rwc"
        );
        assert_eq!(
            sqlite_url(Path::new("/srv/50%?#/x.db")),
            "sqlite:///srv/50%25%3F%23/x.db?mode=rwc"
        );
    }

    #[test]
    fn positive_numbers_name_the_variable() {
        assert_eq!(parse_positive::<u64>("30", "--a", "A"), Ok(30));
        let err = parse_positive::<u32>("0", "--db-max-connections", "SCIMGATE_DB_MAX_CONNECTIONS")
            .unwrap_err();
        assert!(err.contains("SCIMGATE_DB_MAX_CONNECTIONS"), "{err}");
        assert!(parse_positive::<usize>("abc", "--a", "A").is_err());
    }

    #[test]
    fn secret_debug_is_masked() {
        let secret = Secret("postgres://user:pw@host/db".into());
        assert_eq!(format!("{secret:?}"), "Secret(***)");
    }
}
