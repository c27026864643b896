//! `orchestrator`: the livestream orchestrator service. See the crate docs of `orchestrator`
//! (crates/app/src/lib.rs) and README.md.

use std::process::ExitCode;

use orchestrator::{telemetry, Application, Settings};

#[tokio::main]
async fn main() -> ExitCode {
    // Every WebSocket subscriber is a socket: the usual soft limit of 1024 open files would cap
    // an instance far below its 20,000-subscriber target. The hard limit is the ceiling the
    // operator granted.
    let nofile = rlimit::increase_nofile_limit(u64::MAX);
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("orchestrator: {err}");
            return ExitCode::from(2);
        }
    };
    if let Err(err) = telemetry::init(&settings.log) {
        eprintln!("orchestrator: cannot set up logging: {err}");
        return ExitCode::from(2);
    }
    match nofile {
        Ok(limit) => tracing::debug!(limit, "open-files limit"),
        Err(err) => tracing::warn!(error = %err, "cannot raise the open-files limit"),
    }
    match run(settings).await {
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
