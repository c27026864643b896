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
use orchestrator_domain::{WebhookOutcome, WebhookRejection};
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
    /// `applied`, `unchanged`, `duplicate`, `unknown_room` or `ignored`.
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

async fn receive(
    state: web::Data<HttpState>,
    req: HttpRequest,
    RawBody(body): RawBody,
) -> Result<HttpResponse, ApiError> {
    let metrics = &state.webhook_metrics;
    let authorization = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let webhook = state.webhooks.verify(&body, authorization).map_err(|err| {
        WebhookMetrics::count(&metrics.rejected);
        ApiError::from(err)
    })?;
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
    let kind = webhook.kind.clone();
    let outcome = state.webhooks.process(webhook).await?;
    Ok(HttpResponse::Ok().json(receipt(metrics, &kind, outcome)))
}

/// The answer for an outcome, counted and logged.
fn receipt(metrics: &WebhookMetrics, kind: &str, outcome: WebhookOutcome) -> Receipt {
    let (counter, status, seq) = match outcome {
        WebhookOutcome::Applied { seq } => (&metrics.applied, "applied", Some(seq)),
        WebhookOutcome::Unchanged => (&metrics.unchanged, "unchanged", None),
        WebhookOutcome::Duplicate => (&metrics.duplicates, "duplicate", None),
        WebhookOutcome::Ignored => {
            tracing::debug!(event = %kind, "webhook type not acted on");
            (&metrics.ignored_types, "ignored", None)
        }
        WebhookOutcome::UnknownRoom => {
            // Our own create and stop produce room_started before the stream is stored and
            // room_finished after it stopped: expected, so only counted.
            tracing::debug!(event = %kind, "webhook for a room we do not manage");
            (&metrics.unknown_rooms, "unknown_room", None)
        }
    };
    WebhookMetrics::count(counter);
    Receipt { status, seq }
}
