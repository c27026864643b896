//! `orchestrator`: the livestream orchestrator service and its command line. See the crate
//! docs of `orchestrator` (crates/app/src/lib.rs), `orchestrator --help` and docs/configuration.md.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use orchestrator::checks::{self, Problems};
use orchestrator::cli::{self, Cli, Command};
use orchestrator::settings::{Loaded, SettingsError};
use orchestrator::{telemetry, Application, Settings};

/// How long tasks that ignore cancellation (blocking DNS lookups, say) may delay the exit once
/// the service has stopped.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::GenerateKeys { read } = command {
        return generate_keys(read);
    }
    let loaded = match Loaded::from_process(cli.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(SettingsError(problems)) => return invalid(&problems),
    };
    match command {
        // Checked before anything is logged or bound: a refused configuration never reaches
        // the logs, and is refused with the words and the exit code of `check-config`.
        Command::Serve => match checks::validate(&loaded) {
            Ok(_) => serve(loaded.settings),
            Err(problems) => invalid(&problems),
        },
        Command::PrintConfig => print_config(&loaded.settings),
        Command::CheckConfig => check_config(&loaded),
        Command::GenerateKeys { read } => generate_keys(read),
    }
}

/// Every command's answer to a configuration it refuses.
fn invalid(problems: &Problems) -> ExitCode {
    eprintln!("orchestrator: invalid configuration: {problems}");
    ExitCode::from(cli::INVALID_CONFIGURATION)
}

fn generate_keys(read: bool) -> ExitCode {
    match cli::generate_key(read) {
        Ok((key, entry)) => {
            print!("{}", cli::key_report(&key, &entry));
            ExitCode::SUCCESS
        }
        Err(_) => {
            eprintln!("orchestrator: the system's random source failed");
            ExitCode::FAILURE
        }
    }
}

fn print_config(settings: &Settings) -> ExitCode {
    match cli::print_config(settings) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("orchestrator: cannot print the configuration: {err}");
            ExitCode::FAILURE
        }
    }
}

fn check_config(loaded: &Loaded) -> ExitCode {
    match cli::check_config(loaded) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(problems) => invalid(&problems),
    }
}

fn serve(settings: Settings) -> ExitCode {
    // Every WebSocket subscriber is a socket: the usual soft limit of 1024 open files would cap
    // an instance far below its 20,000-subscriber target. The hard limit is the ceiling the
    // operator granted.
    let nofile = rlimit::increase_nofile_limit(u64::MAX);
    // Kept to the end of `serve`: dropping it writes the last log lines.
    let _logs = match telemetry::init(&settings.log) {
        Ok(flusher) => flusher,
        Err(err) => {
            eprintln!("orchestrator: cannot set up logging: {err}");
            return ExitCode::FAILURE;
        }
    };
    match nofile {
        Ok(limit) => tracing::debug!(limit, "open-files limit"),
        Err(err) => tracing::warn!(error = %err, "cannot raise the open-files limit"),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("orchestrator: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(settings));
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "orchestrator failed");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    // Registered before anything is announced, so a signal sent as soon as the service says it
    // listens is handled, not fatal.
    let shutdown = shutdown_signal()?;
    let app = Application::build(settings).await?;
    tracing::info!(
        http = %app.http_addr(),
        grpc = %app.grpc_addr(),
        livekit = %app.livekit_url(),
        instance = %app.instance_id(),
        version = env!("CARGO_PKG_VERSION"),
        "orchestrator listening"
    );
    app.run_until(shutdown).await
}

/// Registers SIGINT (Ctrl-C) and SIGTERM now; the returned future resolves on either.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
        }
    })
}

/// Ctrl-C only where there is no SIGTERM.
#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("Ctrl-C received");
    })
}
