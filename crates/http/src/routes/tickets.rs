//! `POST /ws-tickets`: a key traded for a short-lived WebSocket ticket (browsers cannot set
//! headers on a WebSocket), with the key's scope.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use orchestrator_domain::policy::access::{AccessError, Principal};
use serde::{Deserialize, Serialize};

use crate::auth::Guard;
use crate::error::ApiError;
use crate::JsonBody;

/// Mounts `POST /ws-tickets` (the guard's state is mounted by [`crate::auth::configure`]).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/ws-tickets")
            .route(web::post().to(ws_ticket))
            .default_service(crate::allow::not_allowed(&[Method::POST])),
    );
}

/// `POST /ws-tickets` takes no field; a JSON object (or nothing) is accepted.
#[derive(Debug, Deserialize)]
pub(crate) struct TicketRequest {}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TicketResponse {
    ticket: String,
    expires_at: chrono::DateTime<chrono::Utc>,
    expires_in: u64,
}

/// A ticket for the caller's key, with the key's scope.
#[utoipa::path(
    post,
    path = "/ws-tickets",
    tag = "realtime",
    request_body(content = Object, content_type = "application/json",
                 description = "No field; an empty body is `{}`"),
    responses(
        (status = 200, description = "A ticket for one WebSocket handshake (`?ticket=`), with the key's scope",
         body = crate::dto::schemas::TicketDoc),
        (status = 400, description = "`malformed_json`, `invalid_field`: the body is not a JSON object", body = crate::dto::schemas::ErrorEnvelope),
        (status = 401, description = "`unauthorized`: no key, or not a configured one", body = crate::dto::schemas::ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: the body is not JSON", body = crate::dto::schemas::ErrorEnvelope),
    )
)]
pub(crate) async fn ws_ticket(
    guard: web::Data<Guard>,
    req: HttpRequest,
    JsonBody(TicketRequest {}): JsonBody<TicketRequest>,
) -> Result<HttpResponse, ApiError> {
    let principal = req
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or(AccessError::Missing)?;
    let ticket = guard.access.issue_ticket(&principal, chrono::Utc::now());
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(TicketResponse {
            ticket: ticket.value,
            expires_at: ticket.expires_at,
            expires_in: guard.access.ticket_ttl().as_secs(),
        }))
}
