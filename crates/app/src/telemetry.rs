//! Logging: a tracing subscriber, human-readable or JSON, installed once by `main`.
//!
//! Request handling does not log on the success path (the hot path stays quiet); errors,
//! start-up and shutdown do. Secrets and tokens are never passed to a log macro.

use tracing_subscriber::EnvFilter;

use crate::settings::{LogFormat, LogSettings};

/// Installs the global subscriber. `RUST_LOG`, when set, wins over `settings.level`.
///
/// # Errors
/// When a subscriber is already installed or the filter directive is invalid.
pub fn init(settings: &LogSettings) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directive) if !directive.is_empty() => EnvFilter::try_new(directive)?,
        _ => EnvFilter::try_new(&settings.level)?,
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match settings.format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    }
    .map_err(|err| anyhow::anyhow!(err))
}
