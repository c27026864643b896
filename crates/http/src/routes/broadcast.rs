//! `/streams/{id}/ingest` and `/streams/{id}/outputs`: a stream's ingest (an encoder's address
//! and stream key) and outputs (HLS, RTMP targets, recordings). A key that may change the
//! stream sees the stream key and the targets whole; a read-only key sees them redacted, as
//! events show them to everyone.

use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use orchestrator_domain::broadcast::{BroadcastError, OutputId};
use orchestrator_domain::broadcast::{Exposure, IngestView, OutputView};
use orchestrator_domain::policy::access::{Principal, Scope};
use orchestrator_domain::service::StreamService;

use crate::dto::broadcast::{CreateIngestRequest, OutputRequest};
use crate::error::ApiError;
use crate::{HttpState, JsonBody};

type Handled = Result<HttpResponse, ApiError>;

/// What the caller may see of secrets: whole with the write scope (or with no keys configured).
fn exposure(req: &HttpRequest) -> Exposure {
    match req.extensions().get::<Principal>().map(Principal::scope) {
        Some(Scope::Read) => Exposure::Redacted,
        Some(Scope::Write) | None => Exposure::Whole,
    }
}

/// An output's name from the path; a name that cannot exist is simply not found.
fn output_id(raw: &str) -> Result<OutputId, ApiError> {
    OutputId::new(raw).map_err(|_| {
        ApiError::from(orchestrator_domain::error::StreamError::from(
            BroadcastError::OutputNotFound(orchestrator_domain::values::excerpt(raw)),
        ))
    })
}

/// The path's stream id and output name.
fn ids(
    path: &web::Path<(String, String)>,
) -> Result<(orchestrator_domain::values::StreamId, OutputId), ApiError> {
    Ok((StreamService::parse_id(&path.0)?, output_id(&path.1)?))
}

/// Creates the stream's ingest: the address and key an encoder publishes with.
#[utoipa::path(
    post,
    path = "/streams/{id}/ingest",
    tag = "broadcast",
    params(
        ("id" = String, Path, description = "The stream's id (a UUID)"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters: a retry with the same key and body replays the first answer and executes nothing"),
    ),
    request_body(content = CreateIngestRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The ingest (its stream key whole for a key that may change the stream)", body = crate::dto::schemas::IngestDoc),
        (status = 400, description = "`malformed_json`, `invalid_field`, `invalid_idempotency_key`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 404, description = "`stream_not_found`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 409, description = "`ingest_exists`, `stream_not_active`, `idempotency_key_in_use`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 502, description = "`livekit_error`: LiveKit refused the request", body = crate::dto::schemas::ErrorEnvelope),
        (status = 503, description = "`store_unavailable` or `livekit_unavailable`", body = crate::dto::schemas::ErrorEnvelope,
         headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
        (status = 422, description = "`idempotency_key_reused`: the same key with another request", body = crate::dto::schemas::ErrorEnvelope),
        (status = 413, description = "`payload_too_large`: the body is over 64 KiB", body = crate::dto::schemas::ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: the body is not JSON", body = crate::dto::schemas::ErrorEnvelope),
    )
)]
pub(crate) async fn create_ingest(
    state: web::Data<HttpState>,
    req: HttpRequest,
    id: web::Path<String>,
    JsonBody(body): JsonBody<CreateIngestRequest>,
) -> Handled {
    let id = StreamService::parse_id(&id)?;
    let kind = body.validate()?;
    let ingest = state.service.create_ingest(id, kind).await?;
    Ok(HttpResponse::Created().json(IngestView::of(&ingest, exposure(&req))))
}

/// The stream's ingest.
#[utoipa::path(
    get,
    path = "/streams/{id}/ingest",
    tag = "broadcast",
    params(("id" = String, Path, description = "The stream's id (a UUID)")),
    responses(
        (status = 200, description = "The ingest (its stream key redacted for a read-only key)", body = crate::dto::schemas::IngestDoc),
        (status = 404, description = "`stream_not_found`, `ingest_not_found`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 503, description = "`store_unavailable`", body = crate::dto::schemas::ErrorEnvelope,
         headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
    )
)]
pub(crate) async fn ingest(
    state: web::Data<HttpState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Handled {
    let ingest = state.service.ingest(StreamService::parse_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(IngestView::of(&ingest, exposure(&req))))
}

/// A new stream key: the old one stops working before the new one is answered.
#[utoipa::path(
    post,
    path = "/streams/{id}/ingest/rotate",
    tag = "broadcast",
    params(
        ("id" = String, Path, description = "The stream's id (a UUID)"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters: a retry with the same key replays the first answer"),
    ),
    responses(
        (status = 200, description = "The ingest with its new key", body = crate::dto::schemas::IngestDoc),
        (status = 404, description = "`stream_not_found`, `ingest_not_found`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 409, description = "`stream_not_active`, `broadcast_contended`, `idempotency_key_in_use`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 502, description = "`livekit_error`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 503, description = "`store_unavailable` or `livekit_unavailable`", body = crate::dto::schemas::ErrorEnvelope,
         headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
        (status = 400, description = "`invalid_idempotency_key`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 422, description = "`idempotency_key_reused`: the same key with another request", body = crate::dto::schemas::ErrorEnvelope),
    )
)]
pub(crate) async fn rotate_ingest(
    state: web::Data<HttpState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Handled {
    let ingest = state
        .service
        .rotate_ingest_key(StreamService::parse_id(&id)?)
        .await?;
    Ok(HttpResponse::Ok().json(IngestView::of(&ingest, exposure(&req))))
}

/// Deletes the stream's ingest: its key stops working at once.
#[utoipa::path(
    delete,
    path = "/streams/{id}/ingest",
    tag = "broadcast",
    params(
        ("id" = String, Path, description = "The stream's id (a UUID)"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`stream_not_found`, `ingest_not_found`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 503, description = "`store_unavailable` or `livekit_unavailable`", body = crate::dto::schemas::ErrorEnvelope,
         headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
        (status = 400, description = "`invalid_idempotency_key`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 409, description = "`idempotency_key_in_use`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 422, description = "`idempotency_key_reused`: the same key with another request", body = crate::dto::schemas::ErrorEnvelope),
    )
)]
pub(crate) async fn delete_ingest(state: web::Data<HttpState>, id: web::Path<String>) -> Handled {
    state
        .service
        .delete_ingest(StreamService::parse_id(&id)?)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The stream's outputs.
#[utoipa::path(
    get,
    path = "/streams/{id}/outputs",
    tag = "broadcast",
    params(("id" = String, Path, description = "The stream's id (a UUID)")),
    responses(
        (status = 200, description = "Its outputs (at most 8)", body = Vec<crate::dto::schemas::OutputDoc>),
        (status = 404, description = "`stream_not_found`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 503, description = "`store_unavailable`", body = crate::dto::schemas::ErrorEnvelope,
         headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
    )
)]
pub(crate) async fn outputs(
    state: web::Data<HttpState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Handled {
    let outputs = state.service.outputs(StreamService::parse_id(&id)?).await?;
    let exposure = exposure(&req);
    let views: Vec<OutputView> = outputs
        .iter()
        .map(|o| OutputView::of(o, exposure))
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Adds an output. One marked `autoStart` starts when the stream goes live (at once if it is).
#[utoipa::path(
    post,
    path = "/streams/{id}/outputs",
    tag = "broadcast",
    params(
        ("id" = String, Path, description = "The stream's id (a UUID)"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters"),
    ),
    request_body(content = OutputRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The output", body = crate::dto::schemas::OutputDoc),
        (status = 400, description = "`malformed_json`, `invalid_field` (a target this deployment refuses, too), `invalid_idempotency_key`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 404, description = "`stream_not_found`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 409, description = "`output_exists`, `too_many_outputs`, `stream_not_active`, `idempotency_key_in_use`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 422, description = "`storage_not_configured`: the output writes files and no storage is configured; `idempotency_key_reused`: the same key with another request", body = crate::dto::schemas::ErrorEnvelope),
        (status = 503, description = "`store_unavailable`", body = crate::dto::schemas::ErrorEnvelope,
         headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
        (status = 413, description = "`payload_too_large`: the body is over 64 KiB", body = crate::dto::schemas::ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: the body is not JSON", body = crate::dto::schemas::ErrorEnvelope),
    )
)]
pub(crate) async fn add_output(
    state: web::Data<HttpState>,
    req: HttpRequest,
    id: web::Path<String>,
    JsonBody(body): JsonBody<OutputRequest>,
) -> Handled {
    let id = StreamService::parse_id(&id)?;
    let new = body.validate()?;
    let output = state.service.add_output(id, new).await?;
    Ok(HttpResponse::Created().json(OutputView::of(&output, exposure(&req))))
}

/// One output.
#[utoipa::path(
    get,
    path = "/streams/{id}/outputs/{output}",
    tag = "broadcast",
    params(
        ("id" = String, Path, description = "The stream's id (a UUID)"),
        ("output" = String, Path, description = "The output's name"),
    ),
    responses(
        (status = 200, description = "The output", body = crate::dto::schemas::OutputDoc),
        (status = 404, description = "`stream_not_found`, `output_not_found`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 503, description = "`store_unavailable`", body = crate::dto::schemas::ErrorEnvelope,
         headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
    )
)]
pub(crate) async fn output(
    state: web::Data<HttpState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Handled {
    let (id, name) = ids(&path)?;
    let output = state.service.output(id, &name).await?;
    Ok(HttpResponse::Ok().json(OutputView::of(&output, exposure(&req))))
}

/// Starts an output now; its egress starts in the background (`observed` follows, and events).
#[utoipa::path(
    post,
    path = "/streams/{id}/outputs/{output}/start",
    tag = "broadcast",
    params(
        ("id" = String, Path, description = "The stream's id (a UUID)"),
        ("output" = String, Path, description = "The output's name"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters"),
    ),
    responses(
        (status = 202, description = "Wanted on; starting (or already running)", body = crate::dto::schemas::OutputDoc),
        (status = 404, description = "`stream_not_found`, `output_not_found`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 409, description = "`output_busy` (it is stopping), `stream_not_active`, `idempotency_key_in_use`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 503, description = "`store_unavailable`", body = crate::dto::schemas::ErrorEnvelope,
         headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
        (status = 400, description = "`invalid_idempotency_key`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 422, description = "`idempotency_key_reused`: the same key with another request", body = crate::dto::schemas::ErrorEnvelope),
    )
)]
pub(crate) async fn start_output(
    state: web::Data<HttpState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Handled {
    let (id, name) = ids(&path)?;
    let output = state.service.start_output(id, &name).await?;
    Ok(HttpResponse::build(StatusCode::ACCEPTED).json(OutputView::of(&output, exposure(&req))))
}

/// Stops an output; its egress stops in the background.
#[utoipa::path(
    post,
    path = "/streams/{id}/outputs/{output}/stop",
    tag = "broadcast",
    params(
        ("id" = String, Path, description = "The stream's id (a UUID)"),
        ("output" = String, Path, description = "The output's name"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters"),
    ),
    responses(
        (status = 202, description = "Wanted off; ending (or already off)", body = crate::dto::schemas::OutputDoc),
        (status = 404, description = "`stream_not_found`, `output_not_found`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 503, description = "`store_unavailable`", body = crate::dto::schemas::ErrorEnvelope,
         headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
        (status = 400, description = "`invalid_idempotency_key`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 409, description = "`idempotency_key_in_use`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 422, description = "`idempotency_key_reused`: the same key with another request", body = crate::dto::schemas::ErrorEnvelope),
    )
)]
pub(crate) async fn stop_output(
    state: web::Data<HttpState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Handled {
    let (id, name) = ids(&path)?;
    let output = state.service.stop_output(id, &name).await?;
    Ok(HttpResponse::build(StatusCode::ACCEPTED).json(OutputView::of(&output, exposure(&req))))
}

/// Removes an output, stopping its egress first if it runs.
#[utoipa::path(
    delete,
    path = "/streams/{id}/outputs/{output}",
    tag = "broadcast",
    params(
        ("id" = String, Path, description = "The stream's id (a UUID)"),
        ("output" = String, Path, description = "The output's name"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "`stream_not_found`, `output_not_found`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 503, description = "`store_unavailable` or `livekit_unavailable`", body = crate::dto::schemas::ErrorEnvelope,
         headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
        (status = 400, description = "`invalid_idempotency_key`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 409, description = "`idempotency_key_in_use`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 422, description = "`idempotency_key_reused`: the same key with another request", body = crate::dto::schemas::ErrorEnvelope),
    )
)]
pub(crate) async fn remove_output(
    state: web::Data<HttpState>,
    path: web::Path<(String, String)>,
) -> Handled {
    let (id, name) = ids(&path)?;
    state.service.remove_output(id, &name).await?;
    Ok(HttpResponse::NoContent().finish())
}
