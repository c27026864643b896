//! `GET /health` (liveness) and `GET /health/ready` (readiness, also at `/ready`).
//!
//! Readiness follows the instance's [`Readiness`](orchestrator_domain::readiness::Readiness):
//! 200 while it is not draining, the store answers (pinged on each request; the Redis breaker
//! makes that fail fast during an outage) and LiveKit answered its last background check;
//! otherwise 503 with `Retry-After`, the code of the first reason (`draining`,
//! `store_unavailable`, `livekit_unavailable`) and every reason in the message, so a load
//! balancer stops routing here and an operator sees which dependency is down.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use orchestrator_domain::readiness::{Check, NotReady, ReadinessReport};
use serde::Serialize;

use crate::dto::Health;
use crate::error::ApiError;
use crate::HttpState;

/// Mounts `/health`, `/health/ready` and `/ready`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/health")
            .route(web::get().to(health))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(
        web::resource("/health/ready")
            .route(web::get().to(ready))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(
        web::resource("/ready")
            .route(web::get().to(ready_alias))
            .default_service(web::to(super::method_not_allowed)),
    );
}

/// Answer of a ready instance.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// `ready`.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// Each dependency: `up`.
    pub checks: ReadyChecks,
}

/// The dependencies of a ready instance.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReadyChecks {
    /// The state store (in memory, or Redis).
    #[schema(example = "up")]
    pub store: &'static str,
    /// LiveKit (or the embedded emulator).
    #[schema(example = "up")]
    pub livekit: &'static str,
}

fn not_ready(report: &ReadinessReport, why: NotReady) -> ApiError {
    let code = match why {
        NotReady::Draining => "draining",
        NotReady::Store => "store_unavailable",
        NotReady::Media => "livekit_unavailable",
    };
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        code,
        format!("not ready: {}", report.explain()),
    )
}

/// Readiness: 200 while this instance should receive traffic, 503 (with `Retry-After`) while
/// it should not.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "Ready: not draining, the store and LiveKit answer",
         body = Ready),
        (status = 503, description = "Not ready: `draining`, `store_unavailable` or \
         `livekit_unavailable` (the first reason; the message lists them all)",
         body = crate::openapi::ErrorEnvelope,
         headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
pub(crate) async fn ready(state: web::Data<HttpState>) -> Result<HttpResponse, ApiError> {
    let store = state.service.ready().await;
    let report = state.readiness.report_with_store(Check::of(&store));
    if let Some(why) = report.blocker() {
        return Err(not_ready(&report, why));
    }
    Ok(HttpResponse::Ok().json(Ready {
        status: "ready",
        checks: ReadyChecks {
            store: "up",
            livekit: "up",
        },
    }))
}

/// Readiness at the short path some load balancers default to (same answer as
/// `/health/ready`).
#[utoipa::path(
    get,
    path = "/ready",
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "Ready", body = Ready),
        (status = 503, description = "Not ready (see `/health/ready`)",
         body = crate::openapi::ErrorEnvelope,
         headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
pub(crate) async fn ready_alias(state: web::Data<HttpState>) -> Result<HttpResponse, ApiError> {
    ready(state).await
}

/// Liveness: 200 as long as the process runs.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    security(()),
    responses((status = 200, description = "The process runs", body = Health))
)]
pub(crate) async fn health(state: web::Data<HttpState>) -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        uptime: state.started_at.elapsed().as_secs_f64(),
        version: env!("CARGO_PKG_VERSION"),
    })
}
