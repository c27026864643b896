//! The HTTP port: REST and WebSocket on one actix-web app. Every route is behind CORS, then the
//! guard (operator keys, rate and connection limits). The WebSocket transport has one hub,
//! holding one subscription to the instance's event feed and encoding every event once.

use std::future::Future;
use std::io;
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
use orchestrator_http::auth::Guard;
use orchestrator_http::body::BodyTimeout;
use orchestrator_http::cors::{AllowedOrigins, CorsLayer};
use orchestrator_http::limits::{ConnectionLimit, Counted};
use orchestrator_http::metrics::Exposition;
use orchestrator_http::{request_tracing, HttpState};
use orchestrator_realtime::Hub;
use orchestrator_ws::{JsonCodec, KeyConnections, WsState};
use tokio_util::sync::CancellationToken;

use crate::{ServerConfig, UseCases};

/// What the HTTP server needs beyond its configuration and the use cases.
#[derive(Clone, Default)]
pub struct HttpExtras {
    /// Renders every metric of the process at `/metrics` (none: the route answers empty).
    pub metrics: Option<Exposition>,
    /// Runs on each worker's thread as it starts, before it serves (a store can open a client
    /// of that thread's own there).
    pub worker_started: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl std::fmt::Debug for HttpExtras {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpExtras")
            .field("metrics", &self.metrics)
            .field("worker_started", &self.worker_started.is_some())
            .finish()
    }
}

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
    /// The parts for `config` and `use_cases`; `metrics` renders `/metrics`; `shutdown` closes
    /// the WebSocket connections.
    pub(crate) fn new(
        config: &ServerConfig,
        use_cases: &UseCases,
        metrics: Option<Exposition>,
        shutdown: &CancellationToken,
    ) -> Self {
        let state = HttpState {
            service: use_cases.service.clone(),
            webhooks: use_cases.webhooks.clone(),
            started_at: std::time::Instant::now(),
            idempotency: use_cases.idempotency.clone(),
            metrics,
            readiness: use_cases.readiness.clone(),
        };
        let ws = WsState {
            http_error: orchestrator_http::error::render,
            service: use_cases.service.clone(),
            hub: Hub::new(use_cases.events.clone(), JsonCodec, config.hub),
            config: config.ws,
            shutdown: shutdown.clone(),
            connections: KeyConnections::default(),
        };
        Self {
            state,
            ws,
            origins: config.origins.clone(),
            guard: Guard {
                access: use_cases.access.clone(),
                rate_limits: use_cases.rate_limits.clone(),
            },
            body_timeout: config.body_timeout,
        }
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

/// The HTTP server (REST + WebSocket), bound, not yet polled, and the token that stops it (the
/// one its WebSocket connections watch).
pub struct HttpServer {
    server: actix_web::dev::Server,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("shutdown", &self.shutdown)
            .finish_non_exhaustive()
    }
}

impl HttpServer {
    /// The server on `listener`: [`HttpServer::run`] serves until `shutdown` is cancelled.
    ///
    /// Built from actix's parts rather than with actix-web's `HttpServer`, which has no way to
    /// install an upgrade service: WebSocket handshakes go to [`orchestrator_ws::takeover::serve`], which
    /// runs them through the same app and then serves the connection on its bare socket.
    ///
    /// # Errors
    /// The listener's address cannot be read or actix cannot listen on it.
    pub fn new(
        listener: TcpListener,
        config: &ServerConfig,
        use_cases: &UseCases,
        extras: HttpExtras,
        shutdown: &CancellationToken,
    ) -> io::Result<Self> {
        let parts = HttpParts::new(config, use_cases, extras.metrics, shutdown);
        let connection_limit = ConnectionLimit::new(config.connections_per_address);
        tracing::info!(
            origins = ?parts.origins,
            "browser origins allowed (CORS and WebSocket handshakes)"
        );
        let workers = match config.workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let worker_started = extras.worker_started;
        let head_timeout = config.request_head_timeout;
        let address = listener.local_addr()?;
        let server = actix_server::Server::build()
            .listen("orchestrator-http", listener, move || {
                // The factory runs on each worker's thread: what the hook opens there (the
                // store's client) then serves that thread's requests without hopping threads.
                if let Some(started) = &worker_started {
                    started();
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
            .max_concurrent_connections(config.connections_per_worker.max(1))
            .workers(workers)
            // Signals are the process's to handle, once, for every server it runs.
            .disable_signals()
            .shutdown_timeout(config.shutdown_timeout_secs)
            .run();
        Ok(Self {
            server,
            shutdown: shutdown.clone(),
        })
    }

    /// Serves until the shutdown token is cancelled, then stops gracefully: no new connection,
    /// requests in flight finish within [`ServerConfig::shutdown_timeout_secs`].
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run(self) -> io::Result<()> {
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

/// The app as a service factory of HTTP requests (what actix-web's `HttpServer` makes of it). Its
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

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
