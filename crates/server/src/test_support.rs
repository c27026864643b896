//! What the tests serve: the use cases on the in-memory store, with LiveKit's adapter pointed
//! at the emulator (or at an address nothing listens on, for tests no call of which reaches
//! LiveKit), and the servers' configuration.

use std::net::{Ipv4Addr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use livekit_emulator::{DEV_API_KEY as API_KEY, DEV_API_SECRET as API_SECRET};
use orchestrator_domain::idempotency::{Idempotency, IdempotencyPolicy};
use orchestrator_domain::policy::access::Access;
use orchestrator_domain::policy::limits::RateLimits;
use orchestrator_domain::policy::readiness::Readiness;
use orchestrator_domain::ports::{RandomIds, SystemClock};
use orchestrator_domain::service::{Ports, StreamService};
use orchestrator_domain::webhooks::WebhookIntake;
use orchestrator_grpc::GrpcLimits;
use orchestrator_http::body::BodyTimeout;
use orchestrator_http::cors::AllowedOrigins;
use orchestrator_livekit::{LiveKitConfig, LiveKitMedia, LiveKitTokens, SignedWebhooks};
use orchestrator_realtime::HubConfig;
use orchestrator_store_memory::coordination::MemoryCoordination;
use orchestrator_store_memory::{MemoryStore, MemoryStoreConfig};
use orchestrator_ws::WsConfig;

use crate::{ServerConfig, UseCases};

/// A LiveKit URL nothing listens on.
pub(crate) const NO_LIVEKIT: &str = "http://127.0.0.1:1";

/// The use cases of one instance on the in-memory store, with LiveKit at `livekit_url`.
pub(crate) fn use_cases(livekit_url: &str) -> UseCases {
    let livekit = LiveKitConfig {
        url: livekit_url.into(),
        api_key: API_KEY.into(),
        api_secret: API_SECRET.into(),
        token_ttl: Duration::from_secs(60),
        empty_timeout_secs: 1,
        departure_timeout_secs: 1,
        max_participants: 0,
        request_timeout: Duration::from_secs(5),
    };
    let store = Arc::new(MemoryStore::new(MemoryStoreConfig::default()));
    let coordination = Arc::new(MemoryCoordination::new());
    let service = StreamService::new(
        Ports::new(
            store.clone(),
            store.clone(),
            Arc::new(LiveKitMedia::new(&livekit)),
            Arc::new(LiveKitTokens::new(livekit.clone())),
            Arc::new(SystemClock),
            Arc::new(RandomIds),
        ),
        "server-test",
    );
    UseCases {
        webhooks: WebhookIntake::new(
            service.clone(),
            Arc::new(SignedWebhooks::new(API_KEY, API_SECRET)),
            coordination.clone(),
            Duration::from_secs(60),
        ),
        idempotency: Idempotency::new(
            coordination,
            IdempotencyPolicy {
                retention: Duration::from_secs(60),
                lock_ttl: Duration::from_secs(60),
            },
        ),
        service,
        access: Access::open(),
        rate_limits: Arc::new(RateLimits::off()),
        readiness: Readiness::default(),
        events: store,
    }
}

/// The emulator, serving until the test's runtime ends: its URL.
pub(crate) fn livekit_emulator() -> String {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let emulator =
        livekit_emulator::Emulator::new(livekit_emulator::EmulatorConfig::new(API_KEY, API_SECRET));
    tokio::spawn(livekit_emulator::serve(
        listener,
        emulator,
        std::future::pending(),
    ));
    url
}

/// The servers' configuration: one HTTP worker, every origin, the components' defaults.
pub(crate) fn config() -> ServerConfig {
    ServerConfig {
        workers: 1,
        origins: AllowedOrigins::Any,
        request_head_timeout: Duration::from_secs(5),
        body_timeout: BodyTimeout::DEFAULT,
        connections_per_address: 0,
        connections_per_worker: 1000,
        shutdown_timeout_secs: 5,
        ws: WsConfig::default(),
        hub: HubConfig::default(),
        grpc: GrpcLimits::default(),
    }
}
