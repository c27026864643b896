//! The transports on the use cases: REST and WebSocket on the HTTP port (actix-web), gRPC on
//! its own (tonic). One hub per streaming transport, each holding one subscription to the
//! instance's event feed and encoding every event once in its wire format.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use orchestrator_grpc::{GrpcState, ProtoCodec};
use orchestrator_http::cors::{AllowedOrigins, CorsLayer};
use orchestrator_http::metrics::Exposition;
use orchestrator_http::{request_tracing, HttpState};
use orchestrator_realtime::{Hub, HubConfig};
use orchestrator_ws::{JsonCodec, WsConfig, WsState};

use super::stores::Stores;
use super::Core;
use crate::settings::Settings;

/// What the HTTP app is built from, once per actix worker.
#[derive(Clone)]
pub(crate) struct HttpParts {
    pub(crate) state: HttpState,
    pub(crate) ws: WsState,
    pub(crate) origins: AllowedOrigins,
}

impl HttpParts {
    /// The parts for `settings` and `core`; `metrics` renders `/metrics`.
    pub(crate) fn new(
        settings: &Settings,
        core: &Core,
        stores: &Stores,
        metrics: Option<Exposition>,
    ) -> anyhow::Result<Self> {
        let state = HttpState {
            service: core.service.clone(),
            webhooks: core.webhooks.clone(),
            started_at: std::time::Instant::now(),
            idempotency: core.idempotency.clone(),
            metrics,
            readiness: core.readiness.clone(),
        };
        let ws = WsState {
            http_error: orchestrator_http::error::render,
            service: core.service.clone(),
            hub: Hub::new(stores.events.clone(), JsonCodec, hub_config(settings)),
            config: ws_config(settings),
        };
        let origins = AllowedOrigins::parse(&settings.http.cors_allowed_origins)
            .context("http.cors_allowed_origins (CORS_ALLOWED_ORIGINS)")?;
        Ok(Self { state, ws, origins })
    }
}

/// The HTTP app: every route of the port (REST, WebSocket, the API document), with the
/// middleware in order.
pub(crate) fn app(
    parts: &HttpParts,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    // CORS wraps every route, so that preflights, refusals and every answer (errors included),
    // the WebSocket handshake too, go through one origin policy. Request ids, the access log
    // and the HTTP metrics wrap even that: every answer, CORS refusals included, is logged,
    // counted and carries its id.
    App::new()
        .wrap(CorsLayer::new(parts.origins.clone()))
        .wrap(from_fn(request_tracing::middleware))
        .configure(orchestrator_http::configure(parts.state.clone()))
        .configure(orchestrator_ws::configure(parts.ws.clone()))
        .default_service(web::to(orchestrator_http::not_found))
}

/// The HTTP server (REST + WebSocket), bound, not yet polled.
pub(crate) fn http_server(
    settings: &Settings,
    core: &Core,
    stores: &Stores,
    listener: TcpListener,
    metrics: &PrometheusHandle,
) -> anyhow::Result<actix_web::dev::Server> {
    let metrics = metrics.clone();
    let exposition = Exposition::new(move || metrics.render());
    let parts = HttpParts::new(settings, core, stores, Some(exposition))?;
    tracing::info!(
        origins = ?parts.origins,
        "browser origins allowed (CORS and WebSocket handshakes)"
    );
    let workers = match settings.http.workers {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let server = HttpServer::new(move || app(&parts))
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
    .with_readiness(core.readiness.clone())
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

#[cfg(test)]
#[path = "transports_tests.rs"]
mod tests;
