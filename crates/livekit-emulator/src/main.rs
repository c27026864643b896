//! `livekit-emulator`: runs the LiveKit-compatible emulator as a standalone server.
//!
//! Configured through the environment so it can replace `livekit-server --dev` in scripts:
//! `LIVEKIT_EMULATOR_HOST` (default 127.0.0.1), `LIVEKIT_EMULATOR_PORT` (default 7880),
//! `LIVEKIT_API_KEY` / `LIVEKIT_API_SECRET` (default the dev credentials) and
//! `LIVEKIT_WEBHOOK_URLS` (comma-separated).
#![forbid(unsafe_code)]

use std::io;
use std::net::TcpListener;

use livekit_emulator::{serve, Emulator, EmulatorConfig, DEV_API_KEY, DEV_API_SECRET};
use tracing_subscriber::EnvFilter;

const DEFAULT_HOST: &str = "127.0.0.1";
const DEFAULT_PORT: u16 = 7880;

#[tokio::main]
async fn main() -> io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let config = config_from_env();
    let host = env_or("LIVEKIT_EMULATOR_HOST", DEFAULT_HOST);
    let port = match std::env::var("LIVEKIT_EMULATOR_PORT") {
        Ok(raw) => raw.trim().parse::<u16>().map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("LIVEKIT_EMULATOR_PORT={raw:?} is not a port: {e}"),
            )
        })?,
        Err(_) => DEFAULT_PORT,
    };

    let listener = TcpListener::bind((host.as_str(), port))?;
    let address = listener.local_addr()?;
    tracing::info!(
        %address,
        api_key = %config.api_key,
        webhook_urls = ?config.webhook_urls,
        "livekit emulator listening"
    );
    let emulator = Emulator::new(config);
    serve(listener, emulator, shutdown_signal()).await?;
    tracing::info!("livekit emulator stopped");
    Ok(())
}

fn config_from_env() -> EmulatorConfig {
    let mut config = EmulatorConfig::new(
        env_or("LIVEKIT_API_KEY", DEV_API_KEY),
        env_or("LIVEKIT_API_SECRET", DEV_API_SECRET),
    );
    if let Ok(urls) = std::env::var("LIVEKIT_WEBHOOK_URLS") {
        for url in urls.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            config = config.with_webhook_url(url);
        }
    }
    config
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM (what container runtimes send).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("received Ctrl-C, shutting down"),
        () = terminate => tracing::info!("received SIGTERM, shutting down"),
    }
}
