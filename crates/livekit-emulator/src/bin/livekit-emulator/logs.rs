//! Log lines on standard output, human or JSON. Colours only on a terminal and only when
//! `NO_COLOR` is unset, so pipes, files and log collectors get plain text.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// What `RUST_LOG` means when it is unset.
const DEFAULT_FILTER: &str = "info";

/// Logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    /// `RUST_LOG` is not a filter.
    #[error("RUST_LOG is not a valid filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    /// Another subscriber was installed first.
    #[error("{0}")]
    Install(String),
}

/// Installs the global subscriber.
///
/// # Errors
/// When `RUST_LOG` is invalid or a subscriber is already installed.
pub fn init(format: LogFormat) -> Result<(), LogsError> {
    let directive = std::env::var("RUST_LOG")
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_FILTER.to_owned());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(directive)?)
        .with_ansi(colours());
    let installed = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_span_list(false)
            .try_init(),
    };
    installed.map_err(|err| LogsError::Install(err.to_string()))
}

/// Whether human lines carry ANSI colours (<https://no-color.org>).
fn colours() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
    std::io::stdout().is_terminal() && !no_color
}
