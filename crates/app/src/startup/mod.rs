//! Wiring and lifecycle. [`Application::build`] binds every listener first (so tests can use
//! port 0 and read the real ports), then wires the process in named steps: the media server,
//! the stores, the use cases, the transports. [`Application::run_until`] serves until a
//! shutdown future resolves, then cancels one token that every server and background task
//! watches, drains in-flight requests within the grace period and waits for everything to stop,
//! all within `http.shutdown_timeout_secs` whatever is still running.
//!
//! # Layout
//!
//! - `media`: LiveKit, or the embedded emulator; `shared_livekit`: one embedded emulator for
//!   every instance on a Redis.
//! - `stores`: the storage ports, in memory or on Redis.
//! - `transports`: what the servers (`orchestrator-server`: REST and WebSocket on the HTTP
//!   port, gRPC on its own) are built with: their configuration from the settings, the use
//!   cases, the rate limits every transport counts against.
//! - `health`: the background readiness checks (LiveKit, the store).
//! - `runtime`: where the domain's background broadcast work runs.

mod health;
mod media;
mod runtime;
mod shared_livekit;
mod stores;
mod transports;

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use livekit_emulator::Emulator;
use orchestrator_domain::broadcast::BroadcastPolicy;
use orchestrator_domain::idempotency::{Idempotency, IdempotencyPolicy};
use orchestrator_domain::policy::access::Access;
use orchestrator_domain::policy::readiness::Readiness;
use orchestrator_domain::ports::{EventLog, MediaServer, RandomIds, SystemClock, TokenIssuer};
use orchestrator_domain::service::Ports;
use orchestrator_domain::{service::StreamService, webhooks::WebhookIntake};
use orchestrator_livekit::{LiveKitConfig, SignedWebhooks};
use orchestrator_reconciler::{Reconciler, ReconcilerConfig};
use orchestrator_server::grpc::{GrpcError, GrpcServer};
use orchestrator_server::http::HttpServer;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::checks;
use crate::settings::Settings;
use media::{EmbeddedEmulator, MediaAdapters};
use shared_livekit::SharedLiveKit;
use stores::Stores;

/// How long open gRPC calls get to finish at shutdown (within the grace period).
const GRPC_DRAIN: Duration = Duration::from_secs(5);

/// The least each step of the shutdown gets once the grace period is spent (so a task that
/// has already stopped is collected rather than aborted).
const LAST_STEP: Duration = Duration::from_millis(100);

/// Shows the broadcast metrics at 0 from the start (the recorder's installation calls it).
pub(crate) fn register_broadcast_metrics() {
    runtime::register();
}

/// A built orchestrator: listeners bound, adapters wired, not yet serving.
#[allow(missing_debug_implementations)]
pub struct Application {
    http: HttpServer,
    http_addr: SocketAddr,
    grpc_addr: SocketAddr,
    grpc: GrpcServer,
    livekit_url: String,
    emulator: Option<EmbeddedEmulator>,
    shared_livekit: Option<SharedLiveKit>,
    instance_id: String,
    core: Core,
    events: Arc<dyn EventLog>,
    shutdown: CancellationToken,
    grace: Duration,
    checks: health::Checks,
    settings: Settings,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
}

/// The use cases of this instance, shared by every transport.
#[derive(Clone)]
pub(crate) struct Core {
    pub(crate) service: StreamService,
    pub(crate) webhooks: WebhookIntake,
    pub(crate) idempotency: Idempotency,
    pub(crate) reconciler: Option<Reconciler>,
    /// Operator keys and WebSocket tickets, for every transport.
    pub(crate) access: Access,
    /// Requests per second per key and per address, counted across transports.
    pub(crate) rate_limits: Arc<orchestrator_domain::policy::limits::RateLimits>,
    pub(crate) media: Arc<dyn MediaServer>,
    pub(crate) readiness: Readiness,
}

impl Application {
    /// Binds the listeners and wires the adapters described by `settings`.
    ///
    /// # Errors
    /// A listener cannot be bound, Redis does not answer, or the settings are refused by
    /// [`checks::check`] (a URL its client cannot use, a LiveKit URL without credentials, a
    /// production profile without keys, …).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let checked = checks::check(&settings).context("invalid configuration")?;
        let (http_listener, http_addr) = bind(&settings, settings.http.port, "HTTP")?;
        let (grpc_listener, grpc_addr) = bind(&settings, settings.grpc.port, "gRPC")?;
        let (livekit, emulator) = media::start(&settings, http_addr)?;
        // Before the stores connect, so that start-up's own Redis commands are measured too.
        let metrics = crate::telemetry::metrics::handle()?;
        // Instances share the LiveKit secret, so it keys the sealing of idempotency answers.
        let stores = stores::connect(&settings, livekit.api_secret.as_bytes()).await?;
        let instance_id = Uuid::new_v4().to_string();
        let adapters = media::adapters(
            &livekit,
            &settings.broadcast.adapter_config(),
            emulator.is_some(),
            &stores,
            &instance_id,
        )
        .await?;
        // Every instance shares the LiveKit secret, so a ticket one issues any other accepts.
        let access = Access::new(
            checked.keys,
            livekit.api_secret.as_bytes(),
            settings.auth.ticket_ttl(),
        );
        announce_access(&access, http_addr);
        let shared_livekit = adapters.shared.clone();
        let core = Core::wire(&settings, &stores, &livekit, adapters, &instance_id, access);
        let checks = health::Checks {
            readiness: core.readiness.clone(),
            service: core.service.clone(),
            media: core.media.clone(),
        };
        // Known before the first request: an instance that cannot reach LiveKit starts not
        // ready rather than ready.
        checks.run_once().await;
        let shutdown = CancellationToken::new();
        let config = transports::server_config(&settings, checked.origins);
        let use_cases = transports::use_cases(&core, &stores);
        let http = HttpServer::new(
            http_listener,
            &config,
            &use_cases,
            transports::http_extras(&metrics, &stores),
            &shutdown,
        )
        .context("starting the HTTP server")?;
        let grpc = GrpcServer::new(grpc_listener, &config, &use_cases, &shutdown)
            .context("starting the gRPC server")?;
        Ok(Self {
            http,
            http_addr,
            grpc_addr,
            grpc,
            livekit_url: livekit.url,
            emulator,
            shared_livekit,
            instance_id,
            core,
            events: stores.events,
            shutdown,
            grace: Duration::from_secs(settings.http.shutdown_timeout_secs),
            checks,
            settings,
            metrics,
        })
    }

    /// Cancelled as soon as a shutdown begins, before anything stops: what readiness watches
    /// to turn false so load balancers drain this instance.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// The bound HTTP address (the real port when 0 was asked for).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The bound gRPC address (the real port when 0 was asked for).
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The LiveKit server this instance talks to now: `LIVEKIT_URL`, or the embedded emulator
    /// its instances share (this instance's own, or another's).
    pub fn livekit_url(&self) -> String {
        self.shared_livekit
            .as_ref()
            .map_or_else(|| self.livekit_url.clone(), SharedLiveKit::url)
    }

    /// This instance's embedded LiveKit emulator, when no `LIVEKIT_URL` is configured.
    pub fn emulator(&self) -> Option<&Emulator> {
        self.emulator.as_ref().map(|e| &e.emulator)
    }

    /// Where this instance's embedded emulator listens (whether or not it is the one the
    /// instances share).
    pub fn emulator_url(&self) -> Option<&str> {
        self.emulator.as_ref().map(|_| self.livekit_url.as_str())
    }

    /// The use cases this instance serves.
    pub fn service(&self) -> StreamService {
        self.core.service.clone()
    }

    /// This instance's event log (and its one live subscription).
    pub fn event_log(&self) -> Arc<dyn EventLog> {
        self.events.clone()
    }

    /// This instance's id, recorded in the events it produces.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// This instance's readiness (what `/health/ready` and gRPC health report).
    pub fn readiness(&self) -> Readiness {
        self.core.readiness.clone()
    }

    /// Serves until `shutdown` resolves, then drains: readiness turns false at once while the
    /// servers keep serving for `http.drain_grace_ms` (a load balancer moves traffic away);
    /// then WebSocket connections are closed (1001) and gRPC subscriptions ended with where to
    /// resume, the servers stop accepting, in-flight requests finish, and the reconciler and
    /// the embedded emulator stop, all within `http.shutdown_timeout_secs`.
    ///
    /// # Errors
    /// When a server fails.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let token = self.shutdown;
        let reconciler = self
            .core
            .reconciler
            .map(|reconciler| tokio::spawn(reconciler.run(token.clone().cancelled_owned())));
        let shared_livekit = self
            .shared_livekit
            .map(|shared| tokio::spawn(shared.run(token.clone())));
        let mut server = std::pin::pin!(self.http.run());
        let mut grpc = tokio::spawn(self.grpc.run());
        let checker = tokio::spawn(self.checks.clone().run(
            Duration::from_millis(self.settings.http.readiness_check_interval_ms),
            token.clone(),
        ));
        let upkeep = tokio::spawn(crate::telemetry::metrics::upkeep(
            self.metrics.clone(),
            token.clone(),
        ));
        let grace = self.grace;
        let deadline = tokio::select! {
            result = &mut server => {
                result.context("HTTP server failed")?;
                tokio::time::Instant::now() + grace
            }
            result = &mut grpc => return Err(grpc_failure(result)),
            () = shutdown => {
                let drain_grace = Duration::from_millis(self.settings.http.drain_grace_ms);
                drain(&self.checks.readiness, drain_grace, &mut server).await?;
                tracing::info!("shutting down: draining in-flight requests");
                let deadline = tokio::time::Instant::now() + grace;
                // The one shutdown signal: WebSocket connections close (1001) and gRPC
                // subscriptions end, with where to resume; both servers stop accepting and let
                // requests in flight finish (actix within `shutdown_timeout`); background tasks
                // stop.
                token.cancel();
                server
                    .await
                    .context("HTTP server failed while draining")?;
                deadline
            }
        };
        token.cancel();
        let left = || {
            deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .max(LAST_STEP)
        };
        match tokio::time::timeout(GRPC_DRAIN.min(left()), &mut grpc).await {
            Ok(Ok(Ok(()))) => {}
            Ok(result) => return Err(grpc_failure(result)),
            Err(_) => grpc.abort(),
        }
        if let Some(mut reconciler) = reconciler {
            if tokio::time::timeout(left(), &mut reconciler).await.is_err() {
                tracing::warn!("the reconciler did not stop within the grace period; abandoned");
                reconciler.abort();
            }
        }
        // Gives the shared emulator's lease up, so another instance takes over at once.
        if let Some(mut shared) = shared_livekit {
            if tokio::time::timeout(left(), &mut shared).await.is_err() {
                shared.abort();
            }
        }
        // Last: requests drained above may have needed it.
        if let Some(embedded) = self.emulator {
            match tokio::time::timeout(left(), embedded.stop()).await {
                Ok(stopped) => stopped?,
                Err(_) => tracing::warn!("the embedded emulator did not stop in time; abandoned"),
            }
        }
        let _ = tokio::join!(checker, upkeep);
        tracing::info!("stopped");
        Ok(())
    }
}

impl Core {
    fn wire(
        settings: &Settings,
        stores: &Stores,
        livekit: &LiveKitConfig,
        adapters: MediaAdapters,
        instance_id: &str,
        access: Access,
    ) -> Self {
        let media: Arc<dyn MediaServer> = adapters.media;
        let tokens: Arc<dyn TokenIssuer> = adapters.tokens;
        let broadcast_media = adapters.broadcast;
        let policy = broadcast_policy(settings);
        let readiness = Readiness::default();
        let service = StreamService::new(
            Ports::new(
                stores.streams.clone(),
                stores.events.clone(),
                media.clone(),
                tokens,
                Arc::new(SystemClock),
                Arc::new(RandomIds),
            )
            .with_broadcast(
                stores.broadcasts.clone(),
                broadcast_media.clone(),
                Arc::new(runtime::TokioRuntime::current()),
            ),
            instance_id,
        )
        .with_broadcast_policy(policy);
        let webhooks = WebhookIntake::new(
            service.clone(),
            Arc::new(SignedWebhooks::new(&livekit.api_key, &livekit.api_secret)),
            stores.dedupe.clone(),
            Duration::from_secs(settings.webhooks.dedupe_ttl_secs),
        );
        let idempotency = Idempotency::new(
            stores.idempotency.clone(),
            IdempotencyPolicy {
                retention: Duration::from_secs(settings.idempotency.retention_secs),
                lock_ttl: Duration::from_secs(settings.idempotency.lock_ttl_secs),
            },
        );
        let reconciler = settings.reconciler.enabled.then(|| {
            let config = ReconcilerConfig {
                interval: Duration::from_millis(settings.reconciler.interval_ms.max(1)),
                livekit_calls_per_sec: settings.reconciler.livekit_calls_per_sec,
            };
            Reconciler::new(
                service.clone(),
                media.clone(),
                broadcast_media.clone(),
                stores.leases.clone(),
                instance_id,
                config,
            )
        });
        Self {
            service,
            webhooks,
            idempotency,
            reconciler,
            access,
            rate_limits: transports::rate_limits(settings),
            media,
            readiness,
        }
    }
}

/// What `settings` allow of outputs: files only with storage; RTMP targets on this machine or
/// a private network only outside production (no request forgery through our egress).
fn broadcast_policy(settings: &Settings) -> BroadcastPolicy {
    BroadcastPolicy {
        storage: settings.broadcast.has_storage(),
        internal_targets: settings.app_env != crate::settings::PRODUCTION,
        retry_backoff: settings.broadcast.retry_backoff(),
    }
}

/// Turns readiness false and keeps serving for `grace`, so a load balancer notices before the
/// servers stop accepting.
async fn drain(
    readiness: &Readiness,
    grace: Duration,
    server: &mut std::pin::Pin<&mut impl Future<Output = std::io::Result<()>>>,
) -> anyhow::Result<()> {
    readiness.start_draining();
    health::publish(readiness);
    if grace.is_zero() {
        return Ok(());
    }
    tracing::info!(
        grace_ms = grace.as_millis() as u64,
        "shutting down: not ready any more, still serving while the load balancer notices"
    );
    tokio::select! {
        result = server.as_mut() => {
            result.context("HTTP server failed")?;
            anyhow::bail!("HTTP server stopped while draining");
        }
        () = tokio::time::sleep(grace) => Ok(()),
    }
}

/// Says who may call this instance; without keys, loudly.
fn announce_access(access: &Access, http_addr: SocketAddr) {
    if access.is_open() {
        tracing::warn!(
            %http_addr,
            "no operator API keys configured (API_KEYS): every route is open to anyone who \
             can reach this address; `orchestrator generate-keys` makes one"
        );
    } else {
        tracing::info!(keys = access.key_count(), "operator API keys required");
    }
}

fn bind(settings: &Settings, port: u16, what: &str) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let host = settings.http.host.as_str();
    let listener = TcpListener::bind((host, port))
        .with_context(|| format!("binding {what} on {host}:{port}"))?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

type GrpcOutcome = Result<Result<(), GrpcError>, tokio::task::JoinError>;

fn grpc_failure(outcome: GrpcOutcome) -> anyhow::Error {
    match outcome {
        Ok(Ok(())) => anyhow::anyhow!("gRPC server stopped unexpectedly"),
        Ok(Err(err)) => anyhow::anyhow!("gRPC server failed: {err}"),
        Err(err) => anyhow::anyhow!("gRPC server panicked: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_refuses_internal_rtmp_targets_and_no_storage_refuses_files() {
        let mut settings = Settings::for_tests();
        let development = broadcast_policy(&settings);
        settings.app_env = crate::settings::PRODUCTION.into();
        settings.broadcast.storage = crate::settings::StorageKind::None;

        let production = broadcast_policy(&settings);

        assert!(development.internal_targets && development.storage);
        assert!(!production.internal_targets && !production.storage);
    }
}
