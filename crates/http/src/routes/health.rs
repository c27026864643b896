//! `GET /health`: liveness with uptime and version.

use actix_web::{web, HttpResponse};

use crate::dto::Health;
use crate::error::ApiError;
use crate::HttpState;

/// Mounts `/health`.
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
    );
}

/// Readiness: 200 while the store answers, 503 (with Retry-After) while it does not, so a load
/// balancer stops routing here during a Redis outage.
async fn ready(state: web::Data<HttpState>) -> Result<HttpResponse, ApiError> {
    state.service.ready().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })))
}

async fn health(state: web::Data<HttpState>) -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        uptime: state.started_at.elapsed().as_secs_f64(),
        version: env!("CARGO_PKG_VERSION"),
    })
}
