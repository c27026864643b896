//! REST transport of the livestream orchestrator, on actix-web. Seed-compatible endpoints,
//! camelCase JSON, and an error body with a stable machine `code` for every failure.
//!
//! Handlers do three things: turn the request into domain values, call the one
//! [`StreamService`](domain::StreamService) method, and map the result. Every domain error goes
//! through the single exhaustive mapping in [`error`].
//!
//! # Layout
//!
//! - [`error`]: [`ApiError`], the JSON error body, and the `StreamError → HTTP` mapping.
//! - [`body`]: [`JsonBody`], a JSON extractor with exact 400/413/415 answers.
//! - [`dto`]: request and response shapes (the public contract).
//! - [`routes`]: `streams`, `webhooks`, `health`; [`configure`] mounts them all.

use std::time::Instant;

use actix_web::web;
use domain::StreamService;
use livekit::WebhookVerifier;

pub mod body;
pub mod dto;
pub mod error;
pub mod routes;

pub use body::JsonBody;
pub use error::ApiError;

/// Largest request body accepted (413 beyond).
pub const BODY_LIMIT: usize = 64 * 1024;

/// What every handler shares. One per process, cloned into each actix worker.
#[derive(Debug, Clone)]
pub struct HttpState {
    /// The use cases.
    pub service: StreamService,
    /// Checks LiveKit webhook signatures.
    pub webhooks: WebhookVerifier,
    /// When the process started (for `/health`'s uptime).
    pub started_at: Instant,
}

/// Mounts every REST route, the JSON error handlers and the state on an actix app.
pub fn configure(state: HttpState) -> impl FnOnce(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(state))
            .app_data(web::QueryConfig::default().error_handler(|err, _| {
                ApiError::bad_request("invalid_query", err.to_string()).into()
            }))
            .configure(routes::health::configure)
            .configure(routes::streams::configure)
            .configure(routes::webhooks::configure);
    }
}

/// Answer for paths no route matches.
pub async fn not_found() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "route_not_found",
        "no such route",
    )
}
