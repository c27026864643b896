//! Logs and metrics: a tracing subscriber, human-readable or JSON, installed once by `main`;
//! and the process's metrics recorder ([`metrics`]), installed by the application.
//!
//! Request handling logs one access line per request (target `orchestrator_http::access`,
//! inside a `request` span carrying the request id); errors, start-up and shutdown log too.
//! Secrets and tokens are never passed to a log macro. Human logs carry ANSI colours only when
//! standard output is a terminal, so files and log collectors get plain text.

pub mod metrics;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::settings::{LogFormat, LogSettings};

/// actix-http logs every request it cannot parse (a malformed request line, a bad header) as
/// an ERROR: anyone could flood the logs with one line per bad request. Those are the client's
/// errors, answered with a 400; they are silenced unless the filter names `actix_http` itself.
const CLIENT_PARSE_ERRORS: &str = "actix_http::h1::dispatcher=off";

/// Installs the global subscriber. `RUST_LOG`, when set, wins over `settings.level`.
///
/// # Errors
/// When a subscriber is already installed or the filter directive is invalid.
pub fn init(settings: &LogSettings) -> anyhow::Result<()> {
    let directive = match std::env::var("RUST_LOG") {
        Ok(directive) if !directive.is_empty() => directive,
        _ => settings.level.clone(),
    };
    let mut filter = EnvFilter::try_new(&directive)?;
    if !directive.contains("actix_http") {
        filter = filter.add_directive(CLIENT_PARSE_ERRORS.parse()?);
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    match settings.format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    }
    .map_err(|err| anyhow::anyhow!(err))
}
