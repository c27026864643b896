//! `/streams`: create, list, get, state, update, stop, join, leave.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::{web, HttpRequest, HttpResponse};
use domain::{
    CreateStream, Cursor, ExpectedVersion, JoinStream, ListStreams, Stream, StreamService,
    UpdateStream,
};

use crate::body::JsonBody;
use crate::dto::{
    CreateStreamRequest, JoinRequest, JoinResponse, LeaveRequest, ListParams, MessageResponse,
    StreamState, UpdateStreamRequest,
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
        .json(stream))
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
    let mut response = HttpResponse::Ok();
    if let Some(next) = &page.next {
        response.insert_header((header::LINK, next_link(&req, &params.status, limit, next)));
    }
    Ok(response.json(page.items))
}

/// `<path?query>; rel="next"`, keeping the filter and page size of this request.
fn next_link(
    req: &HttpRequest,
    status: &Option<String>,
    limit: Option<usize>,
    next: &Cursor,
) -> String {
    let mut query = format!("cursor={}", percent_encode(next.as_str()));
    if let Some(limit) = limit {
        query.push_str(&format!("&limit={limit}"));
    }
    if let Some(status) = status {
        query.push_str(&format!("&status={}", percent_encode(status)));
    }
    format!("<{}?{query}>; rel=\"next\"", req.path())
}

fn percent_encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

async fn get(state: web::Data<HttpState>, id: web::Path<String>) -> Handled {
    let stream = state.service.get(StreamService::parse_id(&id)?).await?;
    Ok(with_etag(StatusCode::OK, &stream).json(stream))
}

async fn state(state: web::Data<HttpState>, id: web::Path<String>) -> Handled {
    let stream = state.service.get(StreamService::parse_id(&id)?).await?;
    Ok(with_etag(StatusCode::OK, &stream).json(StreamState::from(stream)))
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
    Ok(with_etag(StatusCode::OK, &stream).json(stream))
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
    Ok(with_etag(StatusCode::OK, &stream).json(MessageResponse {
        message: "stream stopped".into(),
        stream,
    }))
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
    let stream = state.service.leave(id, identity).await?;
    Ok(with_etag(StatusCode::OK, &stream).json(MessageResponse {
        message: "participant left".into(),
        stream,
    }))
}
