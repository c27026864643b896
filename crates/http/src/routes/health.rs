//! The probes: liveness at `/health` and `/livez`, readiness at `/health/ready`, `/ready` and
//! `/readyz` (the names load balancers and Kubernetes default to; `HEAD` too, like every
//! `GET`).
//!
//! Readiness follows the instance's [`Readiness`](orchestrator_domain::policy::readiness::Readiness):
//! 200 while it is not draining, the store answers (pinged on each request; the Redis breaker
//! makes that fail fast during an outage) and LiveKit answered its last background check;
//! otherwise 503 with `Retry-After`. Both answers have one shape, `{"status", "checks"}`, so a
//! probe or a dashboard reads either the same way; a 503 adds the first reason's code
//! (`draining`, `store_unavailable`, `livekit_unavailable`) and every reason in words, so a load
//! balancer stops routing here and an operator sees which dependency is down.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use orchestrator_domain::policy::readiness::{Check, NotReady, ReadinessReport};
use serde::Serialize;

use crate::dto::Health;
use crate::error::RETRY_AFTER_SECS;
use crate::HttpState;

/// Mounts the liveness and readiness paths.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let probe = |path: &'static str, route: actix_web::Route| {
        web::resource(path)
            .route(route)
            .default_service(crate::allow::not_allowed(&[Method::GET]))
    };
    cfg.service(probe("/health", web::get().to(health)))
        .service(probe("/livez", web::get().to(livez)))
        .service(probe("/health/ready", web::get().to(ready)))
        .service(probe("/ready", web::get().to(ready_alias)))
        .service(probe("/readyz", web::get().to(readyz)));
}

/// The answer of a readiness probe, ready or not.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// `ready`, `not_ready`, or `draining` (shutting down).
    #[schema(example = "ready")]
    pub status: &'static str,
    /// Each dependency: `up` or `down`.
    pub checks: ReadyChecks,
    /// When not ready: the first reason's code (`draining`, `store_unavailable`,
    /// `livekit_unavailable`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(null))]
    pub reason: Option<&'static str>,
    /// When not ready: every reason, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(null))]
    pub message: Option<String>,
}

/// The dependencies of an instance.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReadyChecks {
    /// The state store (in memory, or Redis).
    #[schema(example = "up")]
    pub store: &'static str,
    /// LiveKit (or the embedded emulator).
    #[schema(example = "up")]
    pub livekit: &'static str,
}

fn up_or_down(check: &Check) -> &'static str {
    if check.is_up() {
        "up"
    } else {
        "down"
    }
}

impl From<&ReadinessReport> for Ready {
    fn from(report: &ReadinessReport) -> Self {
        let blocker = report.blocker();
        let status = match blocker {
            None => "ready",
            Some(NotReady::Draining) => "draining",
            Some(NotReady::Store | NotReady::Media) => "not_ready",
        };
        Self {
            status,
            checks: ReadyChecks {
                store: up_or_down(&report.store),
                livekit: up_or_down(&report.media),
            },
            reason: blocker.map(|why| match why {
                NotReady::Draining => "draining",
                NotReady::Store => "store_unavailable",
                NotReady::Media => "livekit_unavailable",
            }),
            message: blocker.map(|_| format!("not ready: {}", report.explain())),
        }
    }
}

/// Readiness: 200 while this instance should receive traffic, 503 (with `Retry-After`) while
/// it should not; the same body shape either way.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "Ready: not draining, the store and LiveKit answer",
         body = Ready),
        (status = 503, description = "Not ready: `status` is `not_ready` or `draining`, \
         `checks` says which dependency is down, `reason` is the first reason's code \
         (`draining`, `store_unavailable`, `livekit_unavailable`), `message` lists them all",
         body = Ready,
         headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
pub(crate) async fn ready(state: web::Data<HttpState>) -> HttpResponse {
    let store = state.service.ready().await;
    let report = state.readiness.report_with_store(Check::of(&store));
    let answer = Ready::from(&report);
    if report.is_ready() {
        return HttpResponse::Ok().json(answer);
    }
    HttpResponse::ServiceUnavailable()
        .insert_header((actix_web::http::header::RETRY_AFTER, RETRY_AFTER_SECS))
        .json(answer)
}

/// Readiness at the short paths load balancers and Kubernetes default to (the same answer
/// as `/health/ready`).
#[utoipa::path(
    get,
    path = "/ready",
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "Ready", body = Ready),
        (status = 503, description = "Not ready (see `/health/ready`)", body = Ready,
         headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
pub(crate) async fn ready_alias(state: web::Data<HttpState>) -> HttpResponse {
    ready(state).await
}

/// Readiness under Kubernetes' name (the same answer as `/health/ready`).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "Ready", body = Ready),
        (status = 503, description = "Not ready (see `/health/ready`)", body = Ready,
         headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
pub(crate) async fn readyz(state: web::Data<HttpState>) -> HttpResponse {
    ready(state).await
}

/// Liveness under Kubernetes' name (the same answer as `/health`).
#[utoipa::path(
    get,
    path = "/livez",
    tag = "operations",
    security(()),
    responses((status = 200, description = "The process runs", body = Health))
)]
pub(crate) async fn livez(state: web::Data<HttpState>) -> HttpResponse {
    health(state).await
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
