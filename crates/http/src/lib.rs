//! REST transport of the livestream orchestrator, on actix-web. Seed-compatible endpoints,
//! camelCase JSON, CORS for browser clients, and one error envelope
//! (`{"error": {"code", "message", "statusCode", …}}`) for every failure.
//!
//! Handlers do three things: turn the request into domain values, call the one
//! [`StreamService`] method, and map the result. Every domain error goes
//! through the single exhaustive mapping in [`error`].
//!
//! # Layout
//!
//! - [`auth`]: [`Guard`](auth::Guard), the middleware in front of every route: operator API
//!   keys, scopes, rate limits, the per-address connection limit. It knows no route: which
//!   paths need no key is [`public`]'s, below both the guard and the routes serving them.
//! - [`limits`]: the domain's rate limits as `429`s, concurrent connections per address.
//! - [`error`]: [`ApiError`], the error envelope, and the `StreamError → HTTP` mapping.
//! - [`body`]: [`JsonBody`], a JSON extractor with exact 400/408/413/415 answers.
//! - [`cors`]: [`CorsLayer`](cors::CorsLayer), CORS for browsers on every route of the port.
//! - [`dto`]: request and response shapes (the public contract).
//! - [`head`]: `HEAD` answered wherever `GET` is (a middleware).
//! - [`idempotency`]: `Idempotency-Key` middleware on the mutating stream routes.
//! - [`metrics`]: `/metrics` (every family of the process) and the webhook outcome counter.
//! - [`request_tracing`]: request ids (`X-Request-Id`), W3C `traceparent`, the access log and
//!   the HTTP metrics; [`access_text`]: the client's text as the access log shows it (bounded,
//!   credentials redacted).
//! - [`openapi`]: the OpenAPI 3.1 document at `/openapi.json` and its viewer at `/docs`.
//! - [`routes`]: `streams`, `events`, `webhooks`, `tickets` (`POST /ws-tickets`), `health`;
//!   [`configure`] mounts them all. `allow` answers 405 with `Allow` for every module that
//!   mounts a path.
//!
//! The modules form layers, each using only those below it (a test holds them to it):
//! shapes and answers (`dto`, `error`, `allow`, `public`, `body`, `limits`, …) below the
//! middlewares (`auth`, `cors`, `idempotency`, `request_tracing`, `head`) below the routes
//! (`routes`, `metrics`, `dashboard`) below the document describing them (`openapi`).
//! - [`dashboard`]: the operator's live dashboard at `/dashboard` (embedded HTML/CSS/JS).

use std::time::Instant;

use actix_web::web;
use orchestrator_domain::policy::readiness::Readiness;
use orchestrator_domain::{service::StreamService, webhooks::WebhookIntake};

pub mod access_text;
mod allow;
pub mod auth;
pub mod body;
pub mod cors;
pub mod dashboard;
pub mod dto;
pub mod error;
pub mod head;
pub mod idempotency;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod public;
pub mod request_tracing;
pub mod routes;

pub use body::JsonBody;
pub use error::ApiError;

/// Largest request body accepted (413 beyond).
pub const BODY_LIMIT: usize = 64 * 1024;

/// What every handler shares. One per process, cloned into each actix worker.
#[derive(Clone)]
pub struct HttpState {
    /// The use cases.
    pub service: StreamService,
    /// LiveKit webhook intake (verify, dedupe, apply).
    pub webhooks: WebhookIntake,
    /// When the process started (for `/health`'s uptime).
    pub started_at: Instant,
    /// Idempotency keys of the mutating routes.
    pub idempotency: orchestrator_domain::idempotency::Idempotency,
    /// Renders every metric of the process for `/metrics` (empty without).
    pub metrics: Option<metrics::Exposition>,
    /// Whether this instance should receive traffic (`/health/ready`).
    pub readiness: Readiness,
}

impl std::fmt::Debug for HttpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpState")
            .field("service", &self.service)
            .field("idempotency", &self.idempotency)
            .finish_non_exhaustive()
    }
}

/// Mounts every REST route, the JSON error handlers and the state on an actix app.
pub fn configure(state: HttpState) -> impl FnOnce(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(state.idempotency.clone()))
            .app_data(web::Data::new(state))
            .app_data(web::QueryConfig::default().error_handler(|err, _| {
                let why = std::error::Error::source(&err)
                    .map_or_else(|| err.to_string(), ToString::to_string);
                ApiError::bad_request(
                    "invalid_query",
                    format!("the query string is invalid: {why}"),
                )
                .into()
            }))
            .configure(routes::health::configure)
            .configure(routes::streams::configure)
            .configure(routes::events::configure)
            .configure(routes::webhooks::configure)
            .configure(routes::tickets::configure)
            .configure(metrics::configure)
            .configure(openapi::configure)
            .configure(dashboard::configure);
    }
}

/// Answer for paths no route matches.
pub async fn not_found(req: actix_web::HttpRequest) -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "route_not_found",
        format!("no route matches {} {}", req.method(), req.path()),
    )
}
