//! `POST /webhooks/livekit`: verified LiveKit webhooks applied to the stream of their room.
//!
//! Answers: 401 for anything not signed by our LiveKit (nothing changes), 400 for a signed body
//! that is not a webhook event, 200 for every verified event, including redeliveries (deduped
//! by event id), event types and rooms we do not act on (so LiveKit does not retry them
//! forever), 503 when the store is down (so LiveKit does retry, and the event id is forgotten
//! so the retry is processed).

use actix_web::http::header::AUTHORIZATION;
use actix_web::http::Method;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use orchestrator_domain::{webhooks::WebhookOutcome, webhooks::WebhookRejection};
use serde::Serialize;

use crate::body::{media_type, RawBody};
use crate::error::ApiError;
use crate::metrics::WebhookCount;
use crate::HttpState;

/// Mounts the webhook route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/webhooks/livekit")
            .route(web::post().to(receive))
            .default_service(crate::allow::not_allowed(&[Method::POST])),
    );
}

/// What became of a verified webhook.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Receipt {
    /// `applied`, `unchanged`, `duplicate`, `unknown_room` or `ignored`.
    #[schema(example = "applied")]
    status: &'static str,
    /// Seq of the stream event it produced.
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
}

impl From<WebhookRejection> for ApiError {
    fn from(rejection: WebhookRejection) -> Self {
        let message = rejection.to_string();
        match rejection {
            WebhookRejection::Unsigned => {
                ApiError::new(StatusCode::UNAUTHORIZED, "invalid_signature", message)
            }
            WebhookRejection::Malformed(_) => ApiError::bad_request("malformed_webhook", message),
        }
    }
}

/// LiveKit's webhooks: point LiveKit's webhook configuration here. Only requests signed by the
/// configured LiveKit key are accepted; redeliveries are deduplicated by event id.
#[utoipa::path(
    post,
    path = "/webhooks/livekit",
    tag = "webhooks",
    security(()),
    params(("Authorization" = String, Header,
            description = "LiveKit's signature: a JWT whose `sha256` claim is the body's digest")),
    request_body(content = Object, content_type = "application/webhook+json",
                 description = "A LiveKit webhook event (proto3 JSON); `application/json` too"),
    responses(
        (status = 200, description = "Verified and processed (also when it changed nothing)",
         body = Receipt),
        (status = 400, description = "`malformed_webhook`: signed, but not a LiveKit event",
         body = crate::dto::schemas::ErrorEnvelope),
        (status = 401, description = "`invalid_signature`: not signed by our LiveKit",
         body = crate::dto::schemas::ErrorEnvelope),
        (status = 413, description = "`payload_too_large`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 503, description = "`store_unavailable`: LiveKit retries", body = crate::dto::schemas::ErrorEnvelope,
         headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
pub(crate) async fn receive(
    state: web::Data<HttpState>,
    req: HttpRequest,
    RawBody(body): RawBody,
) -> Result<HttpResponse, ApiError> {
    let authorization = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let webhook = state.webhooks.verify(&body, authorization).map_err(|err| {
        WebhookCount::Rejected.count();
        ApiError::from(err)
    })?;
    // Checked after the signature so an unsigned caller learns nothing about what we accept.
    if !matches!(
        media_type(&req).as_deref(),
        Some("application/webhook+json" | "application/json")
    ) {
        WebhookCount::Rejected.count();
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "webhooks must be application/webhook+json or application/json",
        ));
    }
    let kind = webhook.kind.clone();
    let outcome = state.webhooks.process(webhook).await?;
    Ok(HttpResponse::Ok().json(receipt(&kind, outcome)))
}

/// The answer for an outcome, counted and logged.
fn receipt(kind: &str, outcome: WebhookOutcome) -> Receipt {
    let (count, status, seq) = match outcome {
        WebhookOutcome::Applied { seq } => (WebhookCount::Applied, "applied", Some(seq)),
        WebhookOutcome::Unchanged => (WebhookCount::Unchanged, "unchanged", None),
        WebhookOutcome::Duplicate => (WebhookCount::Duplicate, "duplicate", None),
        WebhookOutcome::Ignored => {
            tracing::debug!(event = %kind, "webhook type not acted on");
            (WebhookCount::IgnoredType, "ignored", None)
        }
        WebhookOutcome::UnknownRoom => {
            tracing::debug!(event = %kind, "webhook for a room no live stream uses");
            (unknown_room(kind), "unknown_room", None)
        }
    };
    count.count();
    Receipt { status, seq }
}

/// How a report about a room no live stream uses is counted. Our own create produces a
/// `room_started` before the stream is stored, and our own stop a `room_finished` after it
/// stopped: expected, so counted apart from reports that deserve a look.
fn unknown_room(kind: &str) -> WebhookCount {
    match kind {
        "room_started" | "room_finished" => WebhookCount::RoomNotLive,
        _ => WebhookCount::UnknownRoom,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_room_lifecycle_reports_are_counted_apart_from_unknown_rooms() {
        assert_eq!(unknown_room("room_started"), WebhookCount::RoomNotLive);
        assert_eq!(unknown_room("room_finished"), WebhookCount::RoomNotLive);
        assert_eq!(
            unknown_room("participant_joined"),
            WebhookCount::UnknownRoom
        );
        assert_eq!(unknown_room("track_published"), WebhookCount::UnknownRoom);
    }
}
