//! Logs and metrics: a tracing subscriber, human-readable or JSON, installed once by `main`;
//! and the process's metrics recorder ([`metrics`]), installed by the application, with the
//! process's own resources beside it ([`process`]).
//!
//! Request handling logs one access line per request (target `orchestrator_http::access`; in
//! JSON written directly by [`access`]); errors, start-up and shutdown log too. A request's
//! other lines carry its id: a `request` span in human logs, a `request_id` key in JSON
//! ([`request_ids`]).
//! Secrets and tokens are never passed to a log macro. Human logs carry ANSI colours only when
//! standard output is a terminal, so files and log collectors get plain text.

pub mod access;
pub mod batched;
pub mod metrics;
pub mod process;
pub mod request_ids;

use std::io::IsTerminal;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{ParseError, Targets};
use tracing_subscriber::fmt::format::{Format, Json};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::settings::{LogFormat, LogSettings};
pub use batched::Flusher;

/// Where actix-http reports a request it cannot parse (a malformed request line, a bad header),
/// answered 400 before any route sees it.
const ACTIX_DISPATCHER: &str = "actix_http::h1::dispatcher";

/// Installs the global subscriber, filtered by `settings.level` (which `RUST_LOG` sets; see
/// [`filter`]).
///
/// actix-http logs each request it cannot parse as an ERROR: anyone could flood the logs with
/// one line per bad request. Those are the client's errors: they are counted
/// (`orchestrator_http_malformed_requests_total`) and not logged, unless the filter names
/// `actix_http` itself.
///
/// Lines go to standard output in batches ([`batched`]); keep the returned [`Flusher`] until
/// the process ends, its drop writes the last lines.
///
/// # Errors
/// When a subscriber is already installed or the filter directive is invalid.
pub fn init(settings: &LogSettings) -> anyhow::Result<Flusher> {
    let filter = filter(&settings.level)?;
    let (stdout, flusher) = batched::stdout()?;
    if settings.format == LogFormat::Json {
        orchestrator_http::request_tracing::install_access_log(Box::new(
            access::JsonAccessLog::new(stdout.clone()),
        ));
        // The JSON lines take the request id from the request itself (`request_ids`).
        orchestrator_http::request_tracing::span_requests(false);
    }
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(stdout);
    let output = match settings.format {
        LogFormat::Human => fmt.boxed(),
        LogFormat::Json => fmt.json().event_format(json_lines()).boxed(),
    };
    let malformed = Targets::new().with_target(ACTIX_DISPATCHER, Level::ERROR);
    tracing_subscriber::registry()
        .with(output.with_filter(filter))
        .with(MalformedRequests.with_filter(malformed))
        .try_init()
        .map_err(|err| anyhow::anyhow!(err))?;
    Ok(flusher)
}

/// The filter of `directive` (tracing's `EnvFilter` syntax) as the logs apply it: actix-http's
/// reports of requests it cannot parse stay off unless the directive names `actix_http`.
/// `check-config` reads the directive with it too, so a filter it accepts is one the logs take.
///
/// # Errors
/// When the directive is not valid.
pub fn filter(directive: &str) -> Result<EnvFilter, ParseError> {
    let filter = EnvFilter::try_new(directive)?;
    if directive.contains("actix_http") {
        return Ok(filter);
    }
    Ok(filter.add_directive(format!("{ACTIX_DISPATCHER}=off").parse()?))
}

/// The JSON line format: an event's fields at the top level, the current span on a line, not
/// the list of its parents too, and the request id as a key of its own.
fn json_lines() -> request_ids::WithRequestId<Format<Json>> {
    request_ids::WithRequestId(
        tracing_subscriber::fmt::format()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false),
    )
}

/// What the JSON logs of [`init`] hold of what `log` logs (tests write no real output).
#[cfg(test)]
fn json_written(log: impl FnOnce()) -> String {
    use std::sync::{Arc, Mutex};

    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let written = Arc::new(Mutex::new(Vec::new()));
    let sink = written.clone();
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .event_format(json_lines())
        .with_writer(move || Capture(sink.clone()));
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), log);
    let bytes = written.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

/// Counts actix-http's reports of requests it could not parse.
struct MalformedRequests;

impl<S: Subscriber> Layer<S> for MalformedRequests {
    fn on_event(&self, _: &Event<'_>, _: Context<'_, S>) {
        ::metrics::counter!("orchestrator_http_malformed_requests_total").increment(1);
    }
}
