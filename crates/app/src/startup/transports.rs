//! The transports on the use cases: REST and WebSocket on the HTTP port (actix-web), gRPC on
//! its own (tonic). One hub per streaming transport, each holding one subscription to the
//! instance's event feed and encoding every event once in its wire format. Every route of the
//! HTTP port is behind CORS, then the guard (operator keys, rate and connection limits); every
//! `StreamService` call behind the same keys.

use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_codec::Framed;
use actix_http::body::BoxBody;
use actix_http::{h1, HttpService, KeepAlive, Request, Response};
use actix_service::{fn_factory, fn_service, map_config, IntoServiceFactory, ServiceFactoryExt};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::rt::net::TcpStream;
use actix_web::{web, App};
use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use orchestrator_domain::policy::limits::{Rate, RateLimits};
use orchestrator_grpc::{GrpcLimits, GrpcState, ProtoCodec};
use orchestrator_http::auth::Guard;
use orchestrator_http::body::BodyTimeout;
use orchestrator_http::cors::{AllowedOrigins, CorsLayer};
use orchestrator_http::limits::{ConnectionLimit, Counted};
use orchestrator_http::metrics::Exposition;
use orchestrator_http::{request_tracing, HttpState};
use orchestrator_realtime::{Hub, HubConfig};
use orchestrator_ws::{JsonCodec, KeyConnections, WsConfig, WsState};
use tokio_util::sync::CancellationToken;

use super::stores::Stores;
use super::Core;
use crate::settings::Settings;

/// What the HTTP app is built from, once per actix worker.
#[derive(Clone)]
pub(crate) struct HttpParts {
    pub(crate) state: HttpState,
    pub(crate) ws: WsState,
    pub(crate) origins: AllowedOrigins,
    pub(crate) guard: Guard,
    pub(crate) body_timeout: BodyTimeout,
}

impl HttpParts {
    /// The parts for `settings` and `core`; `metrics` renders `/metrics`; `shutdown` closes
    /// the WebSocket connections.
    pub(crate) fn new(
        settings: &Settings,
        core: &Core,
        stores: &Stores,
        metrics: Option<Exposition>,
        shutdown: &CancellationToken,
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
            shutdown: shutdown.clone(),
            connections: KeyConnections::default(),
        };
        let origins = AllowedOrigins::parse(&settings.http.cors_allowed_origins)
            .context("http.cors_allowed_origins (CORS_ALLOWED_ORIGINS)")?;
        Ok(Self {
            state,
            ws,
            origins,
            guard: guard(core),
            body_timeout: BodyTimeout(settings.limits.body_timeout()),
        })
    }
}

/// The HTTP app: every route of the port (REST, WebSocket, the dashboard, the API document),
/// with the middleware in order.
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
    // From the outside in: request ids, the access log and the HTTP metrics see every answer
    // (refusals included); CORS puts every route, the WebSocket handshake too, under one origin
    // policy; then the guard (keys, rate and connection limits) before any route runs; last,
    // `HEAD` is routed as the `GET` it mirrors.
    App::new()
        .wrap(orchestrator_http::head::HeadAsGet)
        .wrap(from_fn(orchestrator_http::auth::middleware))
        .wrap(CorsLayer::new(parts.origins.clone()))
        .wrap(from_fn(request_tracing::middleware))
        .app_data(parts.body_timeout)
        .configure(orchestrator_http::auth::configure(parts.guard.clone()))
        .configure(orchestrator_http::configure(parts.state.clone()))
        .configure(orchestrator_ws::configure(parts.ws.clone()))
        .default_service(web::to(orchestrator_http::not_found))
}

/// What the HTTP server needs beyond the use cases.
pub(crate) struct HttpExtras<'a> {
    /// Browser origins allowed (checked at start-up).
    pub(crate) origins: AllowedOrigins,
    /// Cancelled when the service shuts down.
    pub(crate) shutdown: &'a CancellationToken,
    /// The process's metrics, rendered at `/metrics`.
    pub(crate) metrics: &'a PrometheusHandle,
}

/// The HTTP server (REST + WebSocket), bound, not yet polled: [`HttpServer::run`] serves until
/// the shutdown token of `extras` is cancelled.
///
/// Built from actix's parts rather than with `HttpServer`, which has no way to install an
/// upgrade service: WebSocket handshakes go to [`orchestrator_ws::takeover::serve`], which
/// runs them through the same app and then serves the connection on its bare socket.
pub(crate) fn http_server(
    settings: &Settings,
    core: &Core,
    stores: &Stores,
    listener: TcpListener,
    extras: HttpExtras<'_>,
) -> anyhow::Result<HttpServer> {
    let metrics = extras.metrics.clone();
    let exposition = Exposition::new(move || crate::telemetry::metrics::render(&metrics));
    let mut parts = HttpParts::new(settings, core, stores, Some(exposition), extras.shutdown)?;
    parts.origins = extras.origins;
    let connection_limit = ConnectionLimit::new(settings.limits.connections_per_address);
    tracing::info!(
        origins = ?parts.origins,
        "browser origins allowed (CORS and WebSocket handshakes)"
    );
    let workers = match settings.http.workers {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let redis = stores.redis.clone();
    let head_timeout = settings.limits.request_head_timeout();
    let address = listener.local_addr()?;
    let server = actix_server::Server::build()
        .listen("orchestrator-http", listener, move || {
            // The factory runs on each worker's thread: its requests' Redis commands then stay
            // on that thread instead of hopping to the main runtime and back.
            if let Some(connection) = &redis {
                connection.open_thread_client_in_background();
            }
            let limit = connection_limit.clone();
            HttpService::build()
                .keep_alive(KeepAlive::default())
                .client_request_timeout(head_timeout)
                .client_disconnect_timeout(Duration::from_secs(1))
                .local_addr(address)
                .on_connect_ext(move |io: &TcpStream, data| limit.on_connect(io, data))
                .upgrade(upgrade_service(parts.clone()))
                .finish(map_config(app_service(&parts), |()| AppConfig::default()))
                .tcp()
        })?
        .max_concurrent_connections(settings.limits.connections_per_worker.max(1))
        .workers(workers)
        // Signals are handled once, in main, for every server of the process.
        .disable_signals()
        .shutdown_timeout(settings.http.shutdown_timeout_secs)
        .run();
    Ok(HttpServer {
        server,
        shutdown: extras.shutdown.clone(),
    })
}

/// The HTTP server and the token that stops it (the one its WebSocket connections watch).
pub(crate) struct HttpServer {
    server: actix_web::dev::Server,
    shutdown: CancellationToken,
}

impl HttpServer {
    /// Serves until the shutdown token is cancelled, then stops gracefully: no new connection,
    /// in-flight requests finish within `http.shutdown_timeout_secs`.
    ///
    /// # Errors
    /// When the server fails.
    pub(crate) async fn run(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let mut server = std::pin::pin!(self.server);
        tokio::select! {
            served = &mut server => return served,
            () = self.shutdown.cancelled() => {}
        }
        // The stop command is answered by the server future, so both must be polled.
        let ((), drained) = tokio::join!(handle.stop(true), server);
        drained
    }
}

/// The app as a service factory of HTTP requests (what `HttpServer` makes of it). Its
/// `AppConfig` is actix's default: actix-web builds one naming the server's host and address
/// only inside `HttpServer`, and the app generates no URL from them.
fn app_service(
    parts: &HttpParts,
) -> impl ServiceFactory<
    Request,
    Config = AppConfig,
    Response = ServiceResponse<impl MessageBody>,
    Error = Response<BoxBody>,
    InitError = (),
> {
    app(parts)
        .into_factory()
        .map_err(|err: actix_web::Error| err.error_response().into())
}

/// The upgrade service: each worker builds its own copy of the app to run handshakes
/// through, on its first handshake (a worker that never sees one never pays for it), then
/// hands the connection to the WebSocket transport.
fn upgrade_service(
    parts: HttpParts,
) -> impl ServiceFactory<
    (Request, Framed<TcpStream, h1::Codec>),
    Config = (),
    Response = (),
    Error = actix_web::Error,
    InitError = (),
> {
    fn_factory(move || {
        let parts = Rc::new(parts.clone());
        let app = Rc::new(tokio::sync::OnceCell::new());
        async move {
            Ok::<_, ()>(fn_service(move |(request, framed): (Request, _)| {
                let (parts, app) = (parts.clone(), app.clone());
                // The handshake request ends before the connection does, and with it the
                // connection's data: the connection keeps its count against its address.
                let counted = request.conn_data::<Counted>().cloned();
                // Boxed: the HTTP server's task of every connection holds this future's space
                // inline, WebSocket or not.
                let served: Pin<Box<dyn Future<Output = Result<(), actix_web::Error>>>> =
                    Box::pin(async move {
                        // Boxed in a statement of its own: building the app is a large future,
                        // which would otherwise keep its space in every connection's.
                        let built = Box::pin(app.get_or_try_init(|| async {
                            let built = app_service(&parts).new_service(AppConfig::default());
                            built.await.map(Rc::new)
                        }));
                        let app = built
                            .await
                            .map_err(|()| std::io::Error::other("the app could not be built"))?
                            .clone();
                        let served =
                            orchestrator_ws::takeover::serve(app, request, framed, counted);
                        served.await.map_err(actix_web::Error::from)
                    });
                served
            }))
        }
    })
}

/// Operator keys and rate limits of the HTTP port.
fn guard(core: &Core) -> Guard {
    Guard {
        access: core.access.clone(),
        rate_limits: core.rate_limits.clone(),
    }
}

/// The rate limits every transport counts against.
pub(crate) fn rate_limits(settings: &Settings) -> Arc<RateLimits> {
    let limits = &settings.limits;
    let per_key = Rate {
        per_sec: limits.requests_per_sec_per_key,
        burst: limits.burst_per_key,
    };
    let per_address = Rate {
        per_sec: limits.requests_per_sec_per_address,
        burst: limits.burst_per_address,
    };
    tracing::info!(
        ?per_key,
        ?per_address,
        connections_per_address = limits.connections_per_address,
        "request limits (0: off)"
    );
    Arc::new(RateLimits::new(per_key, per_address))
}

/// The gRPC service's state.
pub(crate) fn grpc_state(settings: &Settings, core: &Core, stores: &Stores) -> GrpcState {
    GrpcState::new(
        core.service.clone(),
        Hub::new(stores.events.clone(), ProtoCodec, hub_config(settings)),
    )
    .with_idempotency(core.idempotency.clone())
    .with_readiness(core.readiness.clone())
    .with_access(core.access.clone())
    .with_rate_limits(core.rate_limits.clone())
    .with_limits(GrpcLimits {
        max_message_bytes: settings.limits.grpc_max_message_bytes,
        max_concurrent_streams: u32::try_from(settings.limits.subscriptions_per_connection)
            .unwrap_or(u32::MAX),
    })
}

fn hub_config(settings: &Settings) -> HubConfig {
    HubConfig {
        queue_capacity: settings.realtime.queue_capacity,
        ..HubConfig::default()
    }
}

fn ws_config(settings: &Settings) -> WsConfig {
    WsConfig {
        heartbeat_interval: Duration::from_millis(settings.realtime.heartbeat_interval_ms.max(1)),
        client_timeout: Duration::from_millis(settings.realtime.client_timeout_ms),
        max_message_bytes: settings.realtime.max_message_bytes,
        max_subscriptions: settings.limits.subscriptions_per_connection,
        max_connections_per_key: settings.limits.websocket_connections_per_key,
    }
}

#[cfg(test)]
#[path = "transports_tests.rs"]
mod tests;
