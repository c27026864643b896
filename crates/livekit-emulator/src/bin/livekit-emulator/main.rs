//! `livekit-emulator`: runs the LiveKit-compatible emulator as a standalone server, a stand-in
//! for `livekit-server --dev` in scripts, compose files and tests. `livekit-emulator --help`
//! lists the flags; each falls back to a variable: `--host` LIVEKIT_EMULATOR_HOST (default
//! 127.0.0.1), `--port` LIVEKIT_EMULATOR_PORT (default 7880), `--api-key` / `--api-secret`
//! LIVEKIT_API_KEY / LIVEKIT_API_SECRET (default the dev credentials), `--webhook-url`
//! LIVEKIT_WEBHOOK_URLS (comma-separated), `--log-format` LOG_FORMAT (human or json),
//! `--max-ingresses` LIVEKIT_EMULATOR_MAX_INGRESSES and `--max-active-egresses`
//! LIVEKIT_EMULATOR_MAX_ACTIVE_EGRESSES (default 1,000 each).
//!
//! Exit status: 0 after SIGTERM or SIGINT (and for `--help`, `--version`), 1 when it cannot
//! run (a one-line reason on standard error), 2 for a usage error.
//!
//! # Layout
//!
//! - `cli`: the flags and the emulator configuration they make.
//! - `logs`: the tracing subscriber (human or JSON lines on standard output).
//! - `signals`: SIGTERM and SIGINT, registered before the emulator announces itself.
#![forbid(unsafe_code)]

mod cli;
mod logs;
mod signals;

use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;
use std::time::Duration;

use livekit_emulator::{serve, Emulator};
use tokio::sync::oneshot;

use crate::cli::Cli;
use crate::signals::Signals;

/// How long open requests may take to finish after the first signal. The emulator answers in
/// milliseconds; this only bounds a client that stalls mid-request (`docker stop` waits 10 s).
const DRAIN_LIMIT: Duration = Duration::from_secs(5);
/// How long tasks that ignore cancellation (a webhook's blocking DNS lookup, say) may delay
/// the exit once the server has stopped.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(1);

/// Why the emulator could not run.
#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot listen for SIGTERM and SIGINT: {0}")]
    Signals(std::io::Error),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
}

fn main() -> ExitCode {
    let cli = Cli::from_process();
    if let Err(err) = logs::init(cli.log_format) {
        eprintln!("livekit-emulator: cannot set up logging: {err}");
        return ExitCode::from(2);
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("livekit-emulator: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), RunError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    let outcome = runtime.block_on(serve_until_signalled(cli));
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    outcome
}

async fn serve_until_signalled(cli: Cli) -> Result<(), RunError> {
    let mut signals = Signals::listen().map_err(RunError::Signals)?;
    let (listener, address) = bind(&cli)?;
    let config = cli.emulator_config();
    tracing::info!(
        %address,
        api_key = %config.api_key,
        webhook_urls = ?config.webhook_urls,
        version = env!("CARGO_PKG_VERSION"),
        "livekit emulator listening"
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let server = serve(listener, Emulator::new(config), async {
        let _ = stopped.await;
    });
    let mut server = std::pin::pin!(server);
    let signal = tokio::select! {
        result = &mut server => return result.map_err(RunError::Serve),
        signal = signals.next() => signal,
    };
    tracing::info!(
        signal,
        "stopping: open requests may finish (a second signal stops at once)"
    );
    let _ = stop.send(());
    tokio::select! {
        result = &mut server => result.map_err(RunError::Serve)?,
        signal = signals.next() => {
            tracing::warn!(signal, "stopping at once: open requests abandoned");
        }
        () = tokio::time::sleep(DRAIN_LIMIT) => {
            tracing::warn!(limit = ?DRAIN_LIMIT, "open requests did not finish in time: abandoned");
        }
    }
    tracing::info!("livekit emulator stopped");
    Ok(())
}

fn bind(cli: &Cli) -> Result<(TcpListener, SocketAddr), RunError> {
    let bind_error = |source| RunError::Bind {
        address: cli.address(),
        source,
    };
    let listener = TcpListener::bind((cli.host.as_str(), cli.port)).map_err(bind_error)?;
    let address = listener.local_addr().map_err(bind_error)?;
    Ok((listener, address))
}
