//! Wiring and lifecycle: [`Application::build`] binds every listener first (so tests can use
//! port 0 and read the real ports), [`Application::run_until`] serves until a shutdown future
//! resolves, then stops accepting and drains in-flight requests within the grace period.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpServer};
use anyhow::{bail, Context};
use domain::coordination::{IdempotencyStore, LeaseStore, WebhookDedupe};
use domain::idempotency::{Idempotency, IdempotencyPolicy};
use domain::ports::{EventLog, MediaServer, RandomIds, StreamRepository, SystemClock};
use domain::service::Ports;
use domain::{StreamService, WebhookIntake};
use grpc_api::{GrpcState, ProtoCodec};
use http_api::cors::{AllowedOrigins, CorsLayer};
use http_api::HttpState;
use livekit::{LiveKitConfig, LiveKitMedia, LiveKitTokens, SignedWebhooks};
use livekit_emulator::{Emulator, EmulatorConfig};
use realtime::{Hub, HubConfig};
use store_memory::coordination::MemoryCoordination;
use store_memory::{MemoryStore, MemoryStoreConfig};
use store_redis::dedupe::RedisWebhookDedupe;
use store_redis::idempotency::RedisIdempotency;
use store_redis::lease::RedisLeases;
use store_redis::{RedisConfig, RedisStore};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;
use ws_api::{JsonCodec, WsConfig, WsState};

use crate::settings::Settings;
use reconciler::{Reconciler, ReconcilerConfig};

/// A built orchestrator: listeners bound, adapters wired, not yet serving.
#[allow(missing_debug_implementations)]
pub struct Application {
    http: actix_web::dev::Server,
    http_addr: SocketAddr,
    grpc_listener: TcpListener,
    grpc_addr: SocketAddr,
    grpc: GrpcState,
    livekit_url: String,
    emulator: Option<EmbeddedEmulator>,
    instance_id: String,
    service: StreamService,
    events: Arc<dyn EventLog>,
    reconciler: Option<Reconciler>,
}

/// How long open gRPC calls get to finish at shutdown.
const GRPC_DRAIN: Duration = Duration::from_secs(5);

type GrpcOutcome =
    Result<Result<(), Box<dyn std::error::Error + Send + Sync>>, tokio::task::JoinError>;

fn grpc_failure(outcome: GrpcOutcome) -> anyhow::Error {
    match outcome {
        Ok(Ok(())) => anyhow::anyhow!("gRPC server stopped unexpectedly"),
        Ok(Err(err)) => anyhow::anyhow!("gRPC server failed: {err}"),
        Err(err) => anyhow::anyhow!("gRPC server panicked: {err}"),
    }
}

/// The emulator this process runs when no `LIVEKIT_URL` is configured.
struct EmbeddedEmulator {
    emulator: Emulator,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Application {
    /// Binds the listeners and wires the adapters described by `settings`.
    ///
    /// # Errors
    /// A listener cannot be bound, or the settings are inconsistent (LiveKit URL without
    /// credentials, a Redis URL this build cannot use).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let http_listener = TcpListener::bind((settings.http.host.as_str(), settings.http.port))
            .with_context(|| {
                format!(
                    "binding HTTP on {}:{}",
                    settings.http.host, settings.http.port
                )
            })?;
        let http_addr = http_listener.local_addr()?;
        let grpc_listener = TcpListener::bind((settings.http.host.as_str(), settings.grpc.port))
            .with_context(|| {
                format!(
                    "binding gRPC on {}:{}",
                    settings.http.host, settings.grpc.port
                )
            })?;
        // tonic serves it on the tokio runtime, which needs a non-blocking socket.
        grpc_listener.set_nonblocking(true)?;
        let grpc_addr = grpc_listener.local_addr()?;

        let (livekit, emulator) = if settings.livekit.embedded() {
            let (config, emulator) = start_emulator(&settings, http_addr)?;
            (config, Some(emulator))
        } else {
            if settings.livekit.api_key.is_empty() || settings.livekit.api_secret.is_empty() {
                bail!(
                    "LIVEKIT_URL is set: LIVEKIT_API_KEY and LIVEKIT_API_SECRET are required too"
                );
            }
            (
                livekit_config(
                    &settings,
                    settings.livekit.url.clone(),
                    settings.livekit.api_key.clone(),
                    settings.livekit.api_secret.clone(),
                ),
                None,
            )
        };

        // Instances share the LiveKit secret, so it keys the sealing of idempotency answers.
        let stores = connect_store(&settings, livekit.api_secret.as_bytes()).await?;
        let instance_id = Uuid::new_v4().to_string();
        let media: Arc<dyn MediaServer> = Arc::new(LiveKitMedia::new(&livekit));
        let service = StreamService::new(
            Ports {
                streams: stores.streams.clone(),
                media: media.clone(),
                tokens: Arc::new(LiveKitTokens::new(livekit.clone())),
                clock: Arc::new(SystemClock),
                ids: Arc::new(RandomIds),
            },
            instance_id.as_str(),
        );
        let idempotency = Idempotency::new(
            stores.idempotency.clone(),
            IdempotencyPolicy {
                retention: Duration::from_secs(settings.idempotency.retention_secs),
                lock_ttl: Duration::from_secs(settings.idempotency.lock_ttl_secs),
            },
        );
        let state = HttpState {
            service: service.clone(),
            webhooks: WebhookIntake::new(
                service.clone(),
                Arc::new(SignedWebhooks::new(&livekit.api_key, &livekit.api_secret)),
                stores.dedupe.clone(),
                Duration::from_secs(settings.webhooks.dedupe_ttl_secs),
            ),
            started_at: Instant::now(),
            idempotency: idempotency.clone(),
            webhook_metrics: Arc::default(),
        };
        let reconciler = settings.reconciler.enabled.then(|| {
            Reconciler::new(
                service.clone(),
                media.clone(),
                stores.leases.clone(),
                instance_id.as_str(),
                ReconcilerConfig {
                    interval: Duration::from_millis(settings.reconciler.interval_ms.max(1)),
                    livekit_calls_per_sec: settings.reconciler.livekit_calls_per_sec,
                },
            )
        });
        // One hub per transport, each holding one subscription to the instance's event feed
        // and encoding every event once in its wire format.
        let hub_config = HubConfig {
            queue_capacity: settings.realtime.queue_capacity,
        };
        let ws = WsState {
            http_error: http_api::error::render,
            service: service.clone(),
            hub: Hub::new(stores.events.clone(), JsonCodec, hub_config),
            config: WsConfig {
                heartbeat_interval: Duration::from_millis(
                    settings.realtime.heartbeat_interval_ms.max(1),
                ),
                client_timeout: Duration::from_millis(settings.realtime.client_timeout_ms),
                max_message_bytes: settings.realtime.max_message_bytes,
            },
        };
        let grpc = GrpcState::new(
            service.clone(),
            Hub::new(stores.events.clone(), ProtoCodec, hub_config),
        )
        .with_idempotency(idempotency);
        let origins = AllowedOrigins::parse(&settings.http.cors_allowed_origins)
            .context("http.cors_allowed_origins (CORS_ALLOWED_ORIGINS)")?;
        tracing::info!(
            ?origins,
            "browser origins allowed (CORS and WebSocket handshakes)"
        );
        let workers = match settings.http.workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let http = HttpServer::new(move || {
            // Outermost, so that preflights, refusals and every answer (errors included) of
            // every route, the WebSocket handshake too, go through one origin policy.
            App::new()
                .wrap(CorsLayer::new(origins.clone()))
                .configure(http_api::configure(state.clone()))
                .configure(ws_api::configure(ws.clone()))
                .default_service(web::to(http_api::not_found))
        })
        .listen(http_listener)?
        .workers(workers)
        // Signals are handled once, in main, for every server of the process.
        .disable_signals()
        .shutdown_timeout(settings.http.shutdown_timeout_secs)
        .run();

        Ok(Self {
            http,
            http_addr,
            grpc_listener,
            grpc_addr,
            grpc,
            livekit_url: livekit.url,
            emulator,
            instance_id,
            service,
            events: stores.events,
            reconciler,
        })
    }

    /// The bound HTTP address (the real port when 0 was asked for).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The bound gRPC address (the real port when 0 was asked for).
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The LiveKit server this instance talks to (the emulator's URL in embedded mode).
    pub fn livekit_url(&self) -> &str {
        &self.livekit_url
    }

    /// The embedded LiveKit emulator, when no `LIVEKIT_URL` is configured.
    pub fn emulator(&self) -> Option<&Emulator> {
        self.emulator.as_ref().map(|e| &e.emulator)
    }

    /// The use cases this instance serves.
    pub fn service(&self) -> StreamService {
        self.service.clone()
    }

    /// This instance's event log (and its one live subscription).
    pub fn event_log(&self) -> Arc<dyn EventLog> {
        self.events.clone()
    }

    /// This instance's id, recorded in the events it produces.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests finish
    /// (bounded by `http.shutdown_timeout_secs`) and stops the embedded emulator.
    ///
    /// # Errors
    /// When a server fails.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let (stop_reconciler, reconciler_stopped) = oneshot::channel::<()>();
        let reconciler = self.reconciler.map(|reconciler| {
            tokio::spawn(reconciler.run(async move {
                let _ = reconciler_stopped.await;
            }))
        });
        let handle = self.http.handle();
        let mut server = std::pin::pin!(self.http);
        let grpc_listener = tokio::net::TcpListener::from_std(self.grpc_listener)
            .context("registering the gRPC listener")?;
        let (stop_grpc, grpc_stopped) = oneshot::channel::<()>();
        let mut stop_grpc = Some(stop_grpc);
        let mut grpc = tokio::spawn(grpc_api::serve(grpc_listener, self.grpc, async move {
            let _ = grpc_stopped.await;
        }));
        tokio::select! {
            result = &mut server => result.context("HTTP server failed")?,
            result = &mut grpc => return Err(grpc_failure(result)),
            () = shutdown => {
                tracing::info!("shutting down: draining in-flight requests");
                // Subscriptions end at once (UNAVAILABLE, resume elsewhere); unary calls finish.
                if let Some(stop) = stop_grpc.take() {
                    let _ = stop.send(());
                }
                // The stop command is answered by the server future, so both must be polled.
                let ((), drained) = tokio::join!(handle.stop(true), &mut server);
                drained.context("HTTP server failed while draining")?;
            }
        }
        if let Some(stop) = stop_grpc.take() {
            let _ = stop.send(());
        }
        match tokio::time::timeout(GRPC_DRAIN, &mut grpc).await {
            Ok(Ok(Ok(()))) => {}
            Ok(result) => return Err(grpc_failure(result)),
            Err(_) => grpc.abort(),
        }
        let _ = stop_reconciler.send(());
        if let Some(reconciler) = reconciler {
            let _ = reconciler.await;
        }
        if let Some(embedded) = self.emulator {
            let _ = embedded.stop.send(());
            embedded
                .task
                .await
                .context("embedded LiveKit emulator panicked")?
                .context("embedded LiveKit emulator failed")?;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// The storage ports, all on the same backend.
#[derive(Clone)]
struct Stores {
    streams: Arc<dyn StreamRepository>,
    events: Arc<dyn EventLog>,
    idempotency: Arc<dyn IdempotencyStore>,
    dedupe: Arc<dyn WebhookDedupe>,
    leases: Arc<dyn LeaseStore>,
}

/// The in-memory store, or Redis when a URL is configured.
async fn connect_store(settings: &Settings, secret: &[u8]) -> anyhow::Result<Stores> {
    let url = settings.redis.url.trim();
    if url.is_empty() {
        let store = Arc::new(MemoryStore::new(MemoryStoreConfig {
            max_events_per_stream: settings.store.max_events_per_stream,
            stopped_retention: settings.store.stopped_retention().unwrap_or(Duration::MAX),
            ..MemoryStoreConfig::default()
        }));
        let coordination = Arc::new(MemoryCoordination::new());
        return Ok(Stores {
            streams: store.clone(),
            events: store,
            idempotency: coordination.clone(),
            dedupe: coordination.clone(),
            leases: coordination,
        });
    }
    let config = RedisConfig {
        key_prefix: settings.redis.key_prefix.clone(),
        command_timeout: Duration::from_millis(settings.redis.command_timeout_ms),
        max_events_per_stream: settings.store.max_events_per_stream as u64,
        stopped_retention: settings.store.stopped_retention(),
        ..RedisConfig::new(url)
    };
    let store = RedisStore::connect(config)
        .await
        .context("connecting to Redis (REDIS_URL)")?;
    tracing::info!(prefix = %settings.redis.key_prefix, "state in Redis");
    let connection = store.connection().clone();
    let store = Arc::new(store);
    Ok(Stores {
        streams: store.clone(),
        events: store,
        idempotency: Arc::new(RedisIdempotency::new(connection.clone(), secret)?),
        dedupe: Arc::new(RedisWebhookDedupe::new(connection.clone())),
        leases: Arc::new(RedisLeases::new(connection)),
    })
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

/// Starts the emulator on a free loopback port, sending its webhooks to this process.
fn start_emulator(
    settings: &Settings,
    http_addr: SocketAddr,
) -> anyhow::Result<(LiveKitConfig, EmbeddedEmulator)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding the emulator")?;
    let addr = listener.local_addr()?;
    let webhook_host = if http_addr.ip().is_unspecified() {
        match http_addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        }
    } else {
        http_addr.ip()
    };
    let webhook_url = format!(
        "http://{}/webhooks/livekit",
        SocketAddr::new(webhook_host, http_addr.port())
    );
    let (api_key, api_secret) = settings.livekit.emulator_credentials();
    let emulator = Emulator::new(
        EmulatorConfig::new(api_key.clone(), api_secret.clone()).with_webhook_url(webhook_url),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(livekit_emulator::serve(
        listener,
        emulator.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    let url = format!("http://{addr}");
    if api_secret == livekit_emulator::DEV_API_SECRET {
        // The dev secret is a published constant, not a secret; developers need it to sign
        // their own test webhooks.
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
            stop,
            task,
        },
    ))
}
