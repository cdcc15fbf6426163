//! Logging set-up with `tracing`.
//!
//! Conventions: a readable message plus dotted fields (`directory.id`,
//! `scim.resource`, `scim.id`, `http.route`). Tokens, passwords and SCIM
//! bodies are never logged at info level or above.

use tracing_subscriber::{fmt, EnvFilter};

use crate::config::{ConfigError, LogFormat};

/// Installs the global subscriber; fails on an invalid filter.
pub fn init(format: LogFormat, filter: &str) -> Result<(), ConfigError> {
    let filter = EnvFilter::try_new(filter).map_err(|err| ConfigError {
        setting: "--log-level (SCIMGATE_LOG)",
        message: format!("'{filter}' is not a valid log filter: {err}"),
    })?;
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second initialisation (tests that start several servers) is harmless.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    Ok(())
}
