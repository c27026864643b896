//! The media server: LiveKit at `LIVEKIT_URL`, or the embedded emulator on a free loopback port
//! sending its webhooks to this process; with a Redis, the embedded emulator of one instance is
//! shared by all of them (see `shared_livekit`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;

use anyhow::Context;
use livekit_emulator::{Emulator, EmulatorConfig};
use orchestrator_domain::broadcast::BroadcastMedia;
use orchestrator_domain::ports::{MediaServer, TokenIssuer};
use orchestrator_livekit::{
    BroadcastConfig, LiveKitBroadcast, LiveKitConfig, LiveKitMedia, LiveKitTokens,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::shared_livekit::SharedLiveKit;
use super::stores::Stores;
use crate::settings::{Settings, PRODUCTION};

/// The adapters that talk to LiveKit.
pub(crate) struct MediaAdapters {
    pub(crate) media: Arc<dyn MediaServer>,
    pub(crate) tokens: Arc<dyn TokenIssuer>,
    /// LiveKit's Ingress and Egress.
    pub(crate) broadcast: Arc<dyn BroadcastMedia>,
    /// Present when instances on one Redis share the embedded emulator: it must run.
    pub(crate) shared: Option<SharedLiveKit>,
}

/// The adapters for `livekit`: straight to it, or, for the embedded emulator on a Redis that
/// other instances may share, to whichever instance's emulator they all use.
///
/// # Errors
/// The shared emulator cannot be used from this instance (see `SharedLiveKitError`).
pub(crate) async fn adapters(
    livekit: &LiveKitConfig,
    broadcast: &BroadcastConfig,
    embedded: bool,
    stores: &Stores,
    instance_id: &str,
) -> anyhow::Result<MediaAdapters> {
    if embedded && stores.redis.is_some() {
        let shared = SharedLiveKit::join(
            stores.leases.clone(),
            livekit.clone(),
            broadcast.clone(),
            instance_id,
        )
        .await?;
        return Ok(MediaAdapters {
            media: Arc::new(shared.clone()),
            tokens: Arc::new(shared.clone()),
            broadcast: Arc::new(shared.clone()),
            shared: Some(shared),
        });
    }
    Ok(MediaAdapters {
        media: Arc::new(LiveKitMedia::new(livekit)),
        tokens: Arc::new(LiveKitTokens::new(livekit.clone())),
        broadcast: Arc::new(LiveKitBroadcast::new(livekit, broadcast.clone())),
        shared: None,
    })
}

/// The emulator this process runs when no `LIVEKIT_URL` is configured.
pub(crate) struct EmbeddedEmulator {
    pub(crate) emulator: Emulator,
    task: JoinHandle<std::io::Result<()>>,
    /// Its own stop: it must outlive the drain of requests that call it.
    stop: CancellationToken,
}

impl EmbeddedEmulator {
    /// Stops it and waits until it has.
    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.task
            .await
            .context("embedded LiveKit emulator panicked")?
            .context("embedded LiveKit emulator failed")
    }
}

/// LiveKit's configuration, and the emulator when it is embedded.
pub(crate) fn start(
    settings: &Settings,
    http_addr: SocketAddr,
) -> anyhow::Result<(LiveKitConfig, Option<EmbeddedEmulator>)> {
    if settings.livekit.embedded() {
        let (config, emulator) = start_emulator(settings, http_addr)?;
        return Ok((config, Some(emulator)));
    }
    let config = livekit_config(
        settings,
        settings.livekit.url.clone(),
        settings.livekit.api_key.clone(),
        settings.livekit.api_secret.clone(),
    );
    Ok((config, None))
}

fn livekit_config(
    settings: &Settings,
    url: String,
    api_key: String,
    api_secret: String,
) -> LiveKitConfig {
    LiveKitConfig {
        url,
        api_key,
        api_secret,
        token_ttl: settings.livekit.token_ttl(),
        empty_timeout_secs: settings.livekit.empty_timeout_secs,
        departure_timeout_secs: settings.livekit.departure_timeout_secs,
        max_participants: settings.livekit.max_participants,
        request_timeout: settings.livekit.request_timeout(),
    }
}

/// Where the emulator sends webhooks: this process's HTTP port, on loopback when it listens
/// on every address.
fn webhook_url(http_addr: SocketAddr) -> String {
    let host = match http_addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip @ (IpAddr::V4(_) | IpAddr::V6(_)) => ip,
    };
    format!(
        "http://{}/webhooks/livekit",
        SocketAddr::new(host, http_addr.port())
    )
}

fn start_emulator(
    settings: &Settings,
    http_addr: SocketAddr,
) -> anyhow::Result<(LiveKitConfig, EmbeddedEmulator)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding the emulator")?;
    let url = format!("http://{}", listener.local_addr()?);
    let (api_key, api_secret) = settings.livekit.emulator_credentials();
    let emulator = Emulator::new(
        EmulatorConfig::new(api_key.clone(), api_secret.clone())
            .with_webhook_url(webhook_url(http_addr)),
    );
    let stop = CancellationToken::new();
    let task = tokio::spawn(livekit_emulator::serve(
        listener,
        emulator.clone(),
        stop.clone().cancelled_owned(),
    ));
    if api_secret == livekit_emulator::DEV_API_SECRET && settings.app_env != PRODUCTION {
        // The dev secret is a published constant, not a secret; developers need it to sign
        // their own test webhooks. (Production never runs the emulator; see `checks`.)
        tracing::info!(%url, api_key = %api_key, api_secret = %api_secret,
            "no LIVEKIT_URL: running the embedded LiveKit emulator with the dev credentials");
    } else {
        tracing::info!(%url, api_key = %api_key, "no LIVEKIT_URL: running the embedded LiveKit emulator");
    }
    let config = livekit_config(settings, url, api_key, api_secret);
    Ok((
        config,
        EmbeddedEmulator {
            emulator,
            task,
            stop,
        },
    ))
}
