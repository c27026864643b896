//! `/streams`: create, list, get, state, update, stop, join, leave, participants.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::from_fn;
use actix_web::{web, HttpRequest, HttpResponse};
use orchestrator_domain::{
    change::ExpectedVersion, service::commands::CreateStream, service::commands::JoinStream,
    service::commands::ListParticipants, service::commands::ListStreams,
    service::commands::UpdateStream, service::StreamService, stream::Stream, values::Cursor,
};

use super::broadcast;
use super::by_id::{ById, SubRoute};
use super::paging::paged;
use crate::body::JsonBody;
use crate::dto::{
    CreateStreamRequest, DepartureResponse, JoinRequest, JoinResponse, LeaveRequest, ListParams,
    MessageResponse, ParticipantParams, StreamState, StreamWithRoster, UpdateStreamRequest,
};
use crate::error::ApiError;
use crate::HttpState;

/// Mounts the stream routes.
///
/// Everything under one stream is routed by `by_id::ById`, without the regex
/// actix would run for a `{id}` pattern (see there).
pub fn configure(cfg: &mut web::ServiceConfig) {
    let idempotent = || from_fn(crate::idempotency::middleware);
    let by_id = ById::new(vec![
        SubRoute::new("", "/streams/{id}")
            .method(Method::GET, web::to(get))
            .method(Method::PATCH, web::to(update))
            .method(Method::DELETE, web::to(stop))
            .idempotent(),
        SubRoute::new("/state", "/streams/{id}/state").method(Method::GET, web::to(state)),
        SubRoute::new("/participants", "/streams/{id}/participants")
            .method(Method::GET, web::to(participants)),
        SubRoute::new("/join", "/streams/{id}/join")
            .method(Method::POST, web::to(join))
            .idempotent(),
        SubRoute::new("/leave", "/streams/{id}/leave")
            .method(Method::POST, web::to(leave))
            .idempotent(),
        SubRoute::new("/ingest", "/streams/{id}/ingest")
            .method(Method::GET, web::to(broadcast::ingest))
            .method(Method::POST, web::to(broadcast::create_ingest))
            .method(Method::DELETE, web::to(broadcast::delete_ingest))
            .idempotent(),
        SubRoute::new("/ingest/rotate", "/streams/{id}/ingest/rotate")
            .method(Method::POST, web::to(broadcast::rotate_ingest))
            .idempotent(),
        SubRoute::new("/outputs", "/streams/{id}/outputs")
            .method(Method::GET, web::to(broadcast::outputs))
            .method(Method::POST, web::to(broadcast::add_output))
            .idempotent(),
        SubRoute::new("/outputs/{output}", "/streams/{id}/outputs/{output}")
            .method(Method::GET, web::to(broadcast::output))
            .method(Method::DELETE, web::to(broadcast::remove_output))
            .idempotent(),
        SubRoute::new(
            "/outputs/{output}/start",
            "/streams/{id}/outputs/{output}/start",
        )
        .method(Method::POST, web::to(broadcast::start_output))
        .idempotent(),
        SubRoute::new(
            "/outputs/{output}/stop",
            "/streams/{id}/outputs/{output}/stop",
        )
        .method(Method::POST, web::to(broadcast::stop_output))
        .idempotent(),
    ]);
    by_id.name_routes(cfg);
    cfg.service(
        web::scope("/streams")
            .service(
                web::resource("")
                    .wrap(idempotent())
                    .route(web::post().to(create))
                    .route(web::get().to(list))
                    .default_service(crate::allow::not_allowed(&[Method::GET, Method::POST])),
            )
            .default_service(by_id),
    );
}

type Handled = Result<HttpResponse, ApiError>;

fn etag(stream: &Stream) -> (header::HeaderName, HeaderValue) {
    let value = HeaderValue::from_str(&format!("\"{}\"", stream.version))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
    (header::ETAG, value)
}

fn with_etag(status: StatusCode, stream: &Stream) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::build(status);
    response.insert_header(etag(stream));
    response
}

/// Creates a stream: LiveKit's room first, then the stream (active) with its
/// `stream_created` event.
#[utoipa::path(
    post,
    path = "/streams",
    tag = "streams",
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters: a retry with the same key and body replays the first answer (`Idempotent-Replayed: true`) and executes nothing"),
    ),
    request_body(content = CreateStreamRequest, content_type = "application/json",
                  description = "All fields optional; an empty body is `{}`"),
    responses(
        (status = 201, description = "Created (or, with an `Idempotency-Key`, replayed)",
         body = crate::dto::schemas::StreamWithRosterDoc,
         headers(("Location" = String, description = "`/streams/<id>`"),
                 ("ETag" = String, description = "`\"<version>\"`"))),
        (status = 400, description = "`malformed_json`, `invalid_field`, `invalid_idempotency_key`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 409, description = "`room_name_taken`, `idempotency_key_in_use`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 413, description = "`payload_too_large`: the body is over 64 KiB", body = crate::dto::schemas::ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: the body is not JSON", body = crate::dto::schemas::ErrorEnvelope),
        (status = 422, description = "`idempotency_key_reused`: the same key with another request", body = crate::dto::schemas::ErrorEnvelope),
        (status = 502, description = "`livekit_error`: LiveKit refused the request", body = crate::dto::schemas::ErrorEnvelope),
        (status = 503, description = "`store_unavailable` or `livekit_unavailable`: a dependency is down", body = crate::dto::schemas::ErrorEnvelope,
         headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
    )
)]
pub(crate) async fn create(
    state: web::Data<HttpState>,
    JsonBody(body): JsonBody<CreateStreamRequest>,
) -> Handled {
    let request = CreateStream::try_from(body)?;
    let stream = state.service.create(request).await?;
    Ok(with_etag(StatusCode::CREATED, &stream)
        .insert_header((header::LOCATION, format!("/streams/{}", stream.id)))
        .json(StreamWithRoster::counters_only(&stream)))
}

/// A page of streams, oldest first.
#[utoipa::path(
    get,
    path = "/streams",
    tag = "streams",
    params(
        ("status" = Option<crate::dto::schemas::StreamStatusDoc>, Query, description = "Only streams in this status"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000,
         description = "Page size (default 100)"),
        ("cursor" = Option<String>, Query, description = "From the `Link` header of the previous page"),
    ),
    responses(
        (status = 200, description = "Streams, each as `GET /streams/{id}` shows it: its participants inline while at most 100 joined, its counters always (`participantsTruncated` beyond)",
         body = Vec<crate::dto::schemas::StreamWithRosterDoc>, headers(("Link" = String, description = "`<…?cursor=…>; rel=\"next\"` when there is a next page"))),
        (status = 400, description = "`invalid_query`: a parameter is invalid (`field` names it)", body = crate::dto::schemas::ErrorEnvelope),
        (status = 503, description = "`store_unavailable` or `livekit_unavailable`: a dependency is down", body = crate::dto::schemas::ErrorEnvelope,
         headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
    )
)]
pub(crate) async fn list(
    state: web::Data<HttpState>,
    req: HttpRequest,
    params: web::Query<ListParams>,
) -> Handled {
    let params = params.into_inner();
    let in_query = |err: ApiError| err.in_query();
    let (status, limit) = params
        .validate()
        .map_err(ApiError::from)
        .map_err(in_query)?;
    let page = state
        .service
        .list_views(ListStreams {
            status,
            limit,
            cursor: params.cursor.clone().map(Cursor::new),
        })
        .await
        .map_err(ApiError::from)
        .map_err(in_query)?;
    let items: Vec<StreamWithRoster<'_>> = page.items.iter().map(StreamWithRoster::from).collect();
    Ok(paged(&req, "cursor", page.next.as_ref().map(Cursor::as_str)).json(items))
}

/// One stream, with its participants when at most 100 joined.
#[utoipa::path(
    get,
    path = "/streams/{id}",
    tag = "streams",
    params(
        ("id" = String, Path, description = "The stream's id (a UUID)"),
    ),
    responses(
        (status = 200, description = "The stream", body = crate::dto::schemas::StreamWithRosterDoc, headers(("ETag" = String, description = "`\"<version>\"`, for `If-Match`"))),
        (status = 404, description = "`stream_not_found`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 503, description = "`store_unavailable` or `livekit_unavailable`: a dependency is down", body = crate::dto::schemas::ErrorEnvelope,
         headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
    )
)]
pub(crate) async fn get(state: web::Data<HttpState>, id: web::Path<String>) -> Handled {
    let view = state.service.view(StreamService::parse_id(&id)?).await?;
    Ok(with_etag(StatusCode::OK, &view.stream).json(StreamWithRoster::from(&view)))
}

/// What a dashboard needs to rebuild its view, and the seq to follow from.
#[utoipa::path(
    get,
    path = "/streams/{id}/state",
    tag = "streams",
    params(
        ("id" = String, Path, description = "The stream's id (a UUID)"),
    ),
    responses(
        (status = 200, description = "The stream's state", body = StreamState, headers(("ETag" = String, description = "`\"<version>\"`, for `If-Match`"))),
        (status = 404, description = "`stream_not_found`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 503, description = "`store_unavailable` or `livekit_unavailable`: a dependency is down", body = crate::dto::schemas::ErrorEnvelope,
         headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
    )
)]
pub(crate) async fn state(state: web::Data<HttpState>, id: web::Path<String>) -> Handled {
    let view = state.service.view(StreamService::parse_id(&id)?).await?;
    Ok(with_etag(StatusCode::OK, &view.stream).json(StreamState::from(view)))
}

/// Everyone who joined, in order of first join, a page at a time.
#[utoipa::path(
    get,
    path = "/streams/{id}/participants",
    tag = "participants",
    params(
        ("id" = String, Path, description = "The stream's id (a UUID)"),
        ("active" = Option<bool>, Query, description = "`true`: only those present now"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000,
         description = "Page size (default 100)"),
        ("cursor" = Option<String>, Query, description = "From the `Link` header of the previous page"),
    ),
    responses(
        (status = 200, description = "Participants", body = Vec<crate::dto::schemas::ParticipantDoc>, headers(("Link" = String, description = "`<…?cursor=…>; rel=\"next\"` when there is a next page"))),
        (status = 400, description = "`invalid_query`: a parameter is invalid (`field` names it)", body = crate::dto::schemas::ErrorEnvelope),
        (status = 404, description = "`stream_not_found`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 503, description = "`store_unavailable` or `livekit_unavailable`: a dependency is down", body = crate::dto::schemas::ErrorEnvelope,
         headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
    )
)]
pub(crate) async fn participants(
    state: web::Data<HttpState>,
    req: HttpRequest,
    id: web::Path<String>,
    params: web::Query<ParticipantParams>,
) -> Handled {
    let id = StreamService::parse_id(&id)?;
    let params = params.into_inner();
    let in_query = |err: ApiError| err.in_query();
    let (active_only, limit) = params
        .validate()
        .map_err(ApiError::from)
        .map_err(in_query)?;
    let request = ListParticipants {
        active_only,
        limit,
        cursor: params.cursor.map(Cursor::new),
    };
    let page = state
        .service
        .participants(id, request)
        .await
        .map_err(ApiError::from)
        .map_err(in_query)?;
    Ok(paged(&req, "cursor", page.next.as_ref().map(Cursor::as_str)).json(page.items))
}

/// Changes the status and/or merges the metadata (JSON Merge Patch; `null` removes a key).
/// A target of `stopping` or `stopped` runs the stop procedure.
#[utoipa::path(
    patch,
    path = "/streams/{id}",
    tag = "streams",
    params(
        ("id" = String, Path, description = "The stream's id (a UUID)"),
        ("If-Match" = Option<String>, Header, description = "An ETag (`\"3\"`): 412 if the stream changed since"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters: a retry with the same key and body replays the first answer (`Idempotent-Replayed: true`) and executes nothing"),
    ),
    request_body(content = UpdateStreamRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The stream afterwards", body = crate::dto::schemas::StreamWithRosterDoc, headers(("ETag" = String, description = "`\"<version>\"`, for `If-Match`"))),
        (status = 400, description = "`malformed_json`, `invalid_field`, `invalid_header`, `invalid_idempotency_key`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 404, description = "`stream_not_found`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 409, description = "`invalid_transition`, `version_conflict`, `idempotency_key_in_use`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 412, description = "`precondition_failed`: `If-Match` is stale", body = crate::dto::schemas::ErrorEnvelope),
        (status = 413, description = "`payload_too_large`: the body is over 64 KiB", body = crate::dto::schemas::ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: the body is not JSON", body = crate::dto::schemas::ErrorEnvelope),
        (status = 422, description = "`idempotency_key_reused`: the same key with another request", body = crate::dto::schemas::ErrorEnvelope),
        (status = 502, description = "`livekit_error`: LiveKit refused the request", body = crate::dto::schemas::ErrorEnvelope),
        (status = 503, description = "`store_unavailable` or `livekit_unavailable`: a dependency is down", body = crate::dto::schemas::ErrorEnvelope,
         headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
    )
)]
pub(crate) async fn update(
    state: web::Data<HttpState>,
    req: HttpRequest,
    id: web::Path<String>,
    JsonBody(body): JsonBody<UpdateStreamRequest>,
) -> Handled {
    let id = StreamService::parse_id(&id)?;
    let (status, metadata) = body.validate()?;
    let request = UpdateStream {
        status,
        metadata,
        expected: match if_match(&req)? {
            Some(version) => Some(ExpectedVersion::IfMatch(version)),
            None => body.version.map(ExpectedVersion::Body),
        },
    };
    let stream = state.service.update(id, request).await?;
    let view = state.service.with_participants(stream).await?;
    Ok(with_etag(StatusCode::OK, &view.stream).json(StreamWithRoster::from(&view)))
}

/// The version an `If-Match` header asks for: `"3"` (or `W/"3"`); `*` asks for none.
fn if_match(req: &HttpRequest) -> Result<Option<u64>, ApiError> {
    let Some(raw) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::bad_request(
            "invalid_header",
            "If-Match must be an ETag from this API, like \"3\"",
        )
        .with_field("If-Match")
    };
    let value = raw.to_str().map_err(|_| invalid())?.trim();
    if value == "*" {
        return Ok(None);
    }
    value
        .trim_start_matches("W/")
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .and_then(|v| v.parse().ok())
        .map(Some)
        .ok_or_else(invalid)
}

/// Stops a stream: stopping → LiveKit room deleted → stopped; everyone still present leaves.
/// Stopping again answers the same, with no new event.
#[utoipa::path(
    delete,
    path = "/streams/{id}",
    tag = "streams",
    params(
        ("id" = String, Path, description = "The stream's id (a UUID)"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters: a retry with the same key and body replays the first answer (`Idempotent-Replayed: true`) and executes nothing"),
    ),
    responses(
        (status = 200, description = "Stopped", body = crate::dto::schemas::StopResponseDoc, headers(("ETag" = String, description = "`\"<version>\"`, for `If-Match`"))),
        (status = 400, description = "`invalid_idempotency_key`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 404, description = "`stream_not_found`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 409, description = "`invalid_transition`, `idempotency_key_in_use`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 422, description = "`idempotency_key_reused`: the same key with another request", body = crate::dto::schemas::ErrorEnvelope),
        (status = 502, description = "`livekit_error`: LiveKit refused the request", body = crate::dto::schemas::ErrorEnvelope),
        (status = 503, description = "`store_unavailable` or `livekit_unavailable`: a dependency is down", body = crate::dto::schemas::ErrorEnvelope,
         headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
    )
)]
pub(crate) async fn stop(state: web::Data<HttpState>, id: web::Path<String>) -> Handled {
    let stream = state.service.stop(StreamService::parse_id(&id)?).await?;
    let view = state.service.with_participants(stream).await?;
    Ok(
        with_etag(StatusCode::OK, &view.stream).json(MessageResponse {
            message: "stream stopped",
            stream: StreamWithRoster::from(&view),
        }),
    )
}

/// Joins a stream: a LiveKit access token for the role (viewers may only subscribe).
/// Joining again while present returns a fresh token and records nothing new.
#[utoipa::path(
    post,
    path = "/streams/{id}/join",
    tag = "participants",
    params(
        ("id" = String, Path, description = "The stream's id (a UUID)"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters: a retry with the same key and body replays the first answer (`Idempotent-Replayed: true`) and executes nothing"),
    ),
    request_body(content = JoinRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "A token to connect to the room", body = JoinResponse),
        (status = 400, description = "`malformed_json`, `invalid_field`, `invalid_idempotency_key`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 404, description = "`stream_not_found`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 409, description = "`stream_not_active`, `idempotency_key_in_use`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 413, description = "`payload_too_large`: the body is over 64 KiB", body = crate::dto::schemas::ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: the body is not JSON", body = crate::dto::schemas::ErrorEnvelope),
        (status = 422, description = "`idempotency_key_reused`: the same key with another request", body = crate::dto::schemas::ErrorEnvelope),
        (status = 502, description = "`livekit_error`: LiveKit refused the request", body = crate::dto::schemas::ErrorEnvelope),
        (status = 503, description = "`store_unavailable` or `livekit_unavailable`: a dependency is down", body = crate::dto::schemas::ErrorEnvelope,
         headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
    )
)]
pub(crate) async fn join(
    state: web::Data<HttpState>,
    id: web::Path<String>,
    JsonBody(body): JsonBody<JoinRequest>,
) -> Handled {
    let id = StreamService::parse_id(&id)?;
    let request = JoinStream::try_from(body)?;
    let ticket = state.service.join(id, request).await?;
    Ok(HttpResponse::Ok().json(JoinResponse::from(ticket)))
}

/// Leaves a stream: the participant is marked left and their LiveKit session disconnected.
/// Leaving twice answers 200 twice and records one leave.
#[utoipa::path(
    post,
    path = "/streams/{id}/leave",
    tag = "participants",
    params(
        ("id" = String, Path, description = "The stream's id (a UUID)"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters: a retry with the same key and body replays the first answer (`Idempotent-Replayed: true`) and executes nothing"),
    ),
    request_body(content = LeaveRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Left", body = crate::dto::schemas::LeaveResponseDoc),
        (status = 400, description = "`malformed_json`, `invalid_field`, `invalid_idempotency_key`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 404, description = "`stream_not_found`, `participant_not_found`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 409, description = "`idempotency_key_in_use`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 413, description = "`payload_too_large`: the body is over 64 KiB", body = crate::dto::schemas::ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: the body is not JSON", body = crate::dto::schemas::ErrorEnvelope),
        (status = 422, description = "`idempotency_key_reused`: the same key with another request", body = crate::dto::schemas::ErrorEnvelope),
        (status = 502, description = "`livekit_error`: LiveKit refused the request", body = crate::dto::schemas::ErrorEnvelope),
        (status = 503, description = "`store_unavailable` or `livekit_unavailable`: a dependency is down", body = crate::dto::schemas::ErrorEnvelope,
         headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
    )
)]
pub(crate) async fn leave(
    state: web::Data<HttpState>,
    id: web::Path<String>,
    JsonBody(body): JsonBody<LeaveRequest>,
) -> Handled {
    let id = StreamService::parse_id(&id)?;
    let identity = body.identity()?;
    let departure = state.service.leave(id, identity).await?;
    let view = state.service.with_participants(departure.stream).await?;
    Ok(
        with_etag(StatusCode::OK, &view.stream).json(DepartureResponse {
            message: "participant left",
            stream: StreamWithRoster::from(&view),
            participant: &departure.participant,
        }),
    )
}
