//! `loadgen`: the benchmark harness of the livestream orchestrator. See the crate docs
//! (crates/loadgen/src/lib.rs) and `loadgen --help`.

use std::process::ExitCode;

use clap::Parser;
use orchestrator_loadgen::cli::Cli;
use orchestrator_loadgen::commands;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(err) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("loadgen: cannot raise the open-files limit: {err}");
    }
    // Dropping the command's future on Ctrl-C or SIGTERM drops every deployment, which kills
    // the processes it started.
    tokio::select! {
        result = commands::execute(cli.command) => match result {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => {
                eprintln!("loadgen: correctness violated or errors counted (see above)");
                ExitCode::FAILURE
            }
            Err(err) => {
                eprintln!("loadgen: {err:#}");
                ExitCode::from(2)
            }
        },
        signal = interrupted() => {
            eprintln!("\nloadgen: {signal}; stopping what it started");
            ExitCode::from(130)
        }
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
async fn interrupted() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => "interrupted",
                _ = terminate.recv() => "terminated",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "interrupted"
}
