//! The transports on the use cases: REST and WebSocket on the HTTP port (actix-web), gRPC on
//! its own (tonic). One hub per streaming transport, each holding one subscription to the
//! instance's event feed and encoding every event once in its wire format.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use anyhow::Context;
use orchestrator_grpc::{GrpcState, ProtoCodec};
use orchestrator_http::cors::{AllowedOrigins, CorsLayer};
use orchestrator_http::HttpState;
use orchestrator_realtime::{Hub, HubConfig};
use orchestrator_ws::{JsonCodec, WsConfig, WsState};

use super::stores::Stores;
use super::Core;
use crate::settings::Settings;

/// The HTTP server (REST + WebSocket), bound, not yet polled.
pub(crate) fn http_server(
    settings: &Settings,
    core: &Core,
    stores: &Stores,
    listener: TcpListener,
) -> anyhow::Result<actix_web::dev::Server> {
    let state = HttpState {
        service: core.service.clone(),
        webhooks: core.webhooks.clone(),
        started_at: std::time::Instant::now(),
        idempotency: core.idempotency.clone(),
        webhook_metrics: std::sync::Arc::default(),
    };
    let ws = WsState {
        http_error: orchestrator_http::error::render,
        service: core.service.clone(),
        hub: Hub::new(stores.events.clone(), JsonCodec, hub_config(settings)),
        config: ws_config(settings),
    };
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
    let server = HttpServer::new(move || {
        // Outermost, so that preflights, refusals and every answer (errors included) of every
        // route, the WebSocket handshake too, go through one origin policy.
        App::new()
            .wrap(CorsLayer::new(origins.clone()))
            .configure(orchestrator_http::configure(state.clone()))
            .configure(orchestrator_ws::configure(ws.clone()))
            .default_service(web::to(orchestrator_http::not_found))
    })
    .listen(listener)?
    .workers(workers)
    // Signals are handled once, in main, for every server of the process.
    .disable_signals()
    .shutdown_timeout(settings.http.shutdown_timeout_secs)
    .run();
    Ok(server)
}

/// The gRPC service's state.
pub(crate) fn grpc_state(settings: &Settings, core: &Core, stores: &Stores) -> GrpcState {
    GrpcState::new(
        core.service.clone(),
        Hub::new(stores.events.clone(), ProtoCodec, hub_config(settings)),
    )
    .with_idempotency(core.idempotency.clone())
}

fn hub_config(settings: &Settings) -> HubConfig {
    HubConfig {
        queue_capacity: settings.realtime.queue_capacity,
    }
}

fn ws_config(settings: &Settings) -> WsConfig {
    WsConfig {
        heartbeat_interval: Duration::from_millis(settings.realtime.heartbeat_interval_ms.max(1)),
        client_timeout: Duration::from_millis(settings.realtime.client_timeout_ms),
        max_message_bytes: settings.realtime.max_message_bytes,
    }
}
