//! `/streams`: create, list, get, state, update, stop, join, leave, participants.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::{web, HttpRequest, HttpResponse};
use orchestrator_domain::{
    CreateStream, Cursor, ExpectedVersion, JoinStream, ListParticipants, ListStreams, Stream,
    StreamService, UpdateStream,
};

use super::paging::paged;
use crate::body::JsonBody;
use crate::dto::{
    CreateStreamRequest, DepartureResponse, JoinRequest, JoinResponse, LeaveRequest, ListParams,
    MessageResponse, ParticipantParams, StreamState, StreamWithRoster, UpdateStreamRequest,
};
use crate::error::ApiError;
use crate::HttpState;

/// Mounts the stream routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let not_allowed = || web::to(super::method_not_allowed);
    let idempotent = || from_fn(crate::idempotency::middleware);
    cfg.service(
        web::resource("/streams")
            .wrap(idempotent())
            .route(web::post().to(create))
            .route(web::get().to(list))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/streams/{id}")
            .wrap(idempotent())
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(stop))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/streams/{id}/state")
            .route(web::get().to(state))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/streams/{id}/participants")
            .route(web::get().to(participants))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/streams/{id}/join")
            .wrap(idempotent())
            .route(web::post().to(join))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/streams/{id}/leave")
            .wrap(idempotent())
            .route(web::post().to(leave))
            .default_service(not_allowed()),
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

async fn create(
    state: web::Data<HttpState>,
    JsonBody(body): JsonBody<CreateStreamRequest>,
) -> Handled {
    let request = CreateStream::try_from(body)?;
    let stream = state.service.create(request).await?;
    Ok(with_etag(StatusCode::CREATED, &stream)
        .insert_header((header::LOCATION, format!("/streams/{}", stream.id)))
        .json(StreamWithRoster::listed(&stream)))
}

async fn list(
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
        .list(ListStreams {
            status,
            limit,
            cursor: params.cursor.clone().map(Cursor::new),
        })
        .await
        .map_err(ApiError::from)
        .map_err(in_query)?;
    let items: Vec<StreamWithRoster<'_>> =
        page.items.iter().map(StreamWithRoster::listed).collect();
    Ok(paged(&req, "cursor", page.next.as_ref().map(Cursor::as_str)).json(items))
}

async fn get(state: web::Data<HttpState>, id: web::Path<String>) -> Handled {
    let view = state.service.view(StreamService::parse_id(&id)?).await?;
    Ok(with_etag(StatusCode::OK, &view.stream).json(StreamWithRoster::from(&view)))
}

async fn state(state: web::Data<HttpState>, id: web::Path<String>) -> Handled {
    let view = state.service.view(StreamService::parse_id(&id)?).await?;
    Ok(with_etag(StatusCode::OK, &view.stream).json(StreamState::from(view)))
}

async fn participants(
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

async fn update(
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

async fn stop(state: web::Data<HttpState>, id: web::Path<String>) -> Handled {
    let stream = state.service.stop(StreamService::parse_id(&id)?).await?;
    let view = state.service.with_participants(stream).await?;
    Ok(
        with_etag(StatusCode::OK, &view.stream).json(MessageResponse {
            message: "stream stopped",
            stream: StreamWithRoster::from(&view),
        }),
    )
}

async fn join(
    state: web::Data<HttpState>,
    id: web::Path<String>,
    JsonBody(body): JsonBody<JoinRequest>,
) -> Handled {
    let id = StreamService::parse_id(&id)?;
    let request = JoinStream::try_from(body)?;
    let ticket = state.service.join(id, request).await?;
    Ok(HttpResponse::Ok().json(JoinResponse::from(ticket)))
}

async fn leave(
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
