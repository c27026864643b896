//! `GET /health`: liveness with uptime and version.

use actix_web::{web, HttpResponse};

use crate::dto::Health;
use crate::HttpState;

/// Mounts `/health`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/health")
            .route(web::get().to(health))
            .default_service(web::to(super::method_not_allowed)),
    );
}

async fn health(state: web::Data<HttpState>) -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        uptime: state.started_at.elapsed().as_secs_f64(),
        version: env!("CARGO_PKG_VERSION"),
    })
}
