//! `POST /webhooks/livekit`: verified LiveKit webhooks applied to the stream of their room.
//!
//! Answers: 401 for anything not signed by our LiveKit (nothing changes), 400 for a signed body
//! that is not a webhook event, 200 for every verified event, including redeliveries (deduped
//! by event id), event types and rooms we do not act on (so LiveKit does not retry them
//! forever), 503 when the store is down (so LiveKit does retry, and the event id is forgotten
//! so the retry is processed).

use actix_web::http::header::AUTHORIZATION;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use domain::MediaEventOutcome;
use livekit::WebhookError;
use serde::Serialize;

use crate::body::{media_type, RawBody};
use crate::error::ApiError;
use crate::metrics::WebhookMetrics;
use crate::HttpState;

/// Mounts the webhook route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/webhooks/livekit")
            .route(web::post().to(receive))
            .default_service(web::to(super::method_not_allowed)),
    );
}

#[derive(Debug, Serialize)]
struct Receipt {
    /// `applied`, `unchanged`, `unknown_room` or `ignored`.
    status: &'static str,
    /// Seq of the stream event it produced.
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
}

impl From<WebhookError> for ApiError {
    fn from(err: WebhookError) -> Self {
        match err {
            WebhookError::MissingSignature
            | WebhookError::InvalidToken(_)
            | WebhookError::DigestMismatch => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_signature",
                "the webhook is not signed by the configured LiveKit key",
            ),
            WebhookError::Malformed(why) => ApiError::bad_request("malformed_webhook", why),
        }
    }
}

async fn receive(
    state: web::Data<HttpState>,
    req: HttpRequest,
    RawBody(body): RawBody,
) -> Result<HttpResponse, ApiError> {
    let authorization = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let verified = match state.webhooks.verify(&body, authorization) {
        Ok(verified) => verified,
        Err(err) => {
            WebhookMetrics::count(&state.webhook_metrics.rejected);
            return Err(err.into());
        }
    };
    // Checked after the signature so an unsigned caller learns nothing about what we accept.
    if !matches!(
        media_type(&req).as_deref(),
        Some("application/webhook+json" | "application/json")
    ) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "webhooks must be application/webhook+json or application/json",
        ));
    }
    let metrics = &state.webhook_metrics;
    let Some(event) = verified.media_event() else {
        WebhookMetrics::count(&metrics.ignored_types);
        tracing::info!(event = %verified.event.event, "webhook type not acted on");
        return Ok(HttpResponse::Ok().json(Receipt {
            status: "ignored",
            seq: None,
        }));
    };
    let event_id = verified.event.id.as_str();
    if !event_id.is_empty() {
        let first = state
            .webhook_dedupe
            .first_delivery(event_id, state.webhook_dedupe_ttl)
            .await
            .map_err(domain::StreamError::from)?;
        if !first {
            WebhookMetrics::count(&metrics.duplicates);
            return Ok(HttpResponse::Ok().json(Receipt {
                status: "duplicate",
                seq: None,
            }));
        }
    }
    let outcome = match state.service.apply_media_event(event).await {
        Ok(outcome) => outcome,
        Err(err) => {
            // Not processed: LiveKit's retry must be, so the id must not count as seen.
            if !event_id.is_empty() {
                let _ = state.webhook_dedupe.forget(event_id).await;
            }
            return Err(err.into());
        }
    };
    let receipt = match outcome {
        MediaEventOutcome::Applied(event) => {
            WebhookMetrics::count(&metrics.applied);
            Receipt {
                status: "applied",
                seq: Some(event.seq),
            }
        }
        MediaEventOutcome::NoChange => {
            WebhookMetrics::count(&metrics.unchanged);
            Receipt {
                status: "unchanged",
                seq: None,
            }
        }
        MediaEventOutcome::UnknownRoom => {
            WebhookMetrics::count(&metrics.unknown_rooms);
            // Our own create and stop produce room_started before the stream is stored and
            // room_finished after it stopped: expected, so only counted. Anything else about an
            // unknown room is worth a line.
            if matches!(
                verified.event.event.as_str(),
                "room_started" | "room_finished"
            ) {
                tracing::debug!(event = %verified.event.event, "webhook for a room we do not manage");
            } else {
                tracing::info!(event = %verified.event.event, "webhook for a room we do not manage");
            }
            Receipt {
                status: "unknown_room",
                seq: None,
            }
        }
    };
    Ok(HttpResponse::Ok().json(receipt))
}
