//! `Idempotency-Key` on every mutating stream route, through the domain's one idempotency
//! engine ([`orchestrator_domain::idempotency`], which holds the rules): this module only reads the key,
//! encodes an answer for replay, and maps the engine's refusals to HTTP.
//!
//! A request is scoped by the operator key that made it (another key's reuse of the same
//! idempotency key is a fresh request), method and path, and identified by its method, path and body. A kept
//! answer is its status, content type, the headers a replay must carry (`Location`, `ETag`) and
//! its body; a 5xx (a dependency failed) is not an answer and is not kept. A replay carries
//! `Idempotent-Replayed: true`.

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{
    HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, ETAG, LOCATION,
};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use orchestrator_domain::coordination::StoredAnswer;
use orchestrator_domain::idempotency::{Idempotency, IdempotencyError, IdempotencyKey, Run};
use orchestrator_domain::policy::access::Principal;

use crate::body::read_limited;
use crate::error::ApiError;
use crate::BODY_LIMIT;

/// The request header carrying the key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The response header marking a replay.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// Headers a replay must carry like the original answer.
const REPLAYED_HEADERS: [HeaderName; 3] = [CONTENT_TYPE, LOCATION, ETAG];

impl From<IdempotencyError> for ApiError {
    fn from(err: IdempotencyError) -> Self {
        let message = err.to_string();
        match err {
            IdempotencyError::InvalidKey => {
                ApiError::bad_request("invalid_idempotency_key", message)
                    .with_field("Idempotency-Key")
            }
            IdempotencyError::KeyInUse => {
                ApiError::new(StatusCode::CONFLICT, "idempotency_key_in_use", message)
            }
            IdempotencyError::KeyReused => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                message,
            ),
            IdempotencyError::Store(err) => {
                orchestrator_domain::error::StreamError::from(err).into()
            }
        }
    }
}

/// Whether the middleware applies to `method` (reads and preflights pass it by).
pub(crate) fn is_mutation(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PATCH | Method::DELETE | Method::PUT
    )
}

/// The key of a request; `None` without the header.
fn key_of(req: &ServiceRequest) -> Result<Option<IdempotencyKey>, IdempotencyError> {
    let Some(raw) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let raw = raw.to_str().map_err(|_| IdempotencyError::InvalidKey)?;
    IdempotencyKey::new(raw).map(Some)
}

/// A response with its body read, ready to be kept and sent.
struct Buffered {
    response: ServiceResponse<BoxBody>,
    body: Bytes,
}

/// The middleware: wrap the mutating routes with `from_fn(idempotency::middleware)`.
///
/// # Errors
/// Whatever the wrapped service fails with.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let engine = req.app_data::<actix_web::web::Data<Idempotency>>().cloned();
    let (key, engine) = match (is_mutation(req.method()), key_of(&req), engine) {
        (true, Ok(Some(key)), Some(engine)) => (key, engine),
        (true, Err(err), _) => return Ok(req.into_response(ApiError::from(err).error_response())),
        // No key, not a mutation, or not configured: as without the middleware.
        _ => {
            return next
                .call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body)
        }
    };
    // The body is part of what identifies the request, so it is read here and handed on.
    let (http_req, payload) = req.into_parts();
    let declared = http_req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let timeout = crate::body::BodyTimeout::of(&http_req);
    let bytes = match read_limited(payload, declared, BODY_LIMIT, timeout).await {
        Ok(bytes) => bytes,
        Err(err) => return Ok(ServiceResponse::new(http_req, err.error_response())),
    };
    let scope = format!("{} {}", http_req.method(), http_req.path());
    let request = [scope.as_bytes(), bytes.as_ref()];
    // The answer belongs to the key that asked: another key's reuse is a fresh request.
    let caller = http_req
        .extensions()
        .get::<Principal>()
        .and_then(|principal| principal.key().cloned());
    let execute = || {
        let req = ServiceRequest::from_parts(http_req.clone(), Payload::from(bytes.clone()));
        buffered(next, req)
    };
    let run = engine
        .run_once(
            caller.as_ref().map(|id| id.as_str()),
            &scope,
            &key,
            &request,
            execute,
            |answer| match answer {
                Ok(buffered) if !buffered.response.status().is_server_error() => {
                    Some(encode(buffered))
                }
                Ok(_) | Err(_) => None,
            },
        )
        .await;
    match run {
        Ok(Run::Fresh(answer)) => answer.map(|buffered| {
            let (req, response) = buffered.response.into_parts();
            ServiceResponse::new(req, response.set_body(BoxBody::new(buffered.body)))
        }),
        Ok(Run::Replayed(stored)) => Ok(ServiceResponse::new(http_req, replay(&stored))),
        Err(err) => Ok(ServiceResponse::new(
            http_req,
            ApiError::from(err).error_response(),
        )),
    }
}

async fn buffered(
    next: Next<impl MessageBody + 'static>,
    req: ServiceRequest,
) -> Result<Buffered, actix_web::Error> {
    let response = next.call(req).await?;
    let (req, response) = response.into_parts();
    let (head, body) = response.into_parts();
    let body = body::to_bytes(body).await.map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error",
        )
    })?;
    Ok(Buffered {
        response: ServiceResponse::new(req, head.set_body(BoxBody::new(()))),
        body,
    })
}

/// `<status>\r\n`, `Name: value\r\n` lines of the replayed headers, an empty line, the body.
fn encode(answer: &Buffered) -> StoredAnswer {
    StoredAnswer(encode_parts(
        answer.response.status(),
        answer.response.headers(),
        &answer.body,
    ))
}

fn encode_parts(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
    let mut stored = Vec::with_capacity(body.len() + 96);
    stored.extend_from_slice(status.as_str().as_bytes());
    stored.extend_from_slice(b"\r\n");
    for name in &REPLAYED_HEADERS {
        if let Some(value) = headers.get(name) {
            stored.extend_from_slice(name.as_str().as_bytes());
            stored.extend_from_slice(b": ");
            stored.extend_from_slice(value.as_bytes());
            stored.extend_from_slice(b"\r\n");
        }
    }
    stored.extend_from_slice(b"\r\n");
    stored.extend_from_slice(body);
    stored
}

/// The status, headers and body of an encoded answer.
fn decode(stored: &[u8]) -> (StatusCode, Vec<(HeaderName, HeaderValue)>, &[u8]) {
    let mut lines = stored;
    let mut next_line = || {
        let end = lines.windows(2).position(|w| w == b"\r\n")?;
        let line = &lines[..end];
        lines = &lines[end + 2..];
        Some(line)
    };
    let status = next_line()
        .and_then(|line| StatusCode::from_bytes(line).ok())
        .unwrap_or(StatusCode::OK);
    let mut headers = Vec::new();
    while let Some(line) = next_line() {
        if line.is_empty() {
            break;
        }
        let parsed = line.iter().position(|b| *b == b':').and_then(|colon| {
            let name = HeaderName::from_bytes(&line[..colon]).ok()?;
            let value = HeaderValue::from_bytes(line[colon + 1..].trim_ascii()).ok()?;
            Some((name, value))
        });
        headers.extend(parsed);
    }
    (status, headers, lines)
}

fn replay(stored: &StoredAnswer) -> HttpResponse {
    let (status, headers, body) = decode(&stored.0);
    let mut response = HttpResponse::build(status);
    for header in headers {
        response.insert_header(header);
    }
    response.insert_header((
        HeaderName::from_static(IDEMPOTENT_REPLAYED),
        HeaderValue::from_static("true"),
    ));
    response.body(body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_gives_back_its_status_replayed_headers_and_exact_body() {
        let mut headers = HeaderMap::new();
        headers.insert(LOCATION, HeaderValue::from_static("/streams/1"));
        headers.insert(ETAG, HeaderValue::from_static("\"1\""));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            HeaderName::from_static("x-not-replayed"),
            HeaderValue::from_static("no"),
        );
        let body = b"{\"a\":\"\r\n\r\n\"}";

        let stored = encode_parts(StatusCode::CREATED, &headers, body);
        let (status, replayed, replayed_body) = decode(&stored);

        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(replayed_body, body);
        assert_eq!(
            replayed,
            vec![
                (CONTENT_TYPE, HeaderValue::from_static("application/json")),
                (LOCATION, HeaderValue::from_static("/streams/1")),
                (ETAG, HeaderValue::from_static("\"1\"")),
            ]
        );
        let bare = encode_parts(StatusCode::NO_CONTENT, &HeaderMap::new(), b"");
        let (status, none, empty) = decode(&bare);
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert!(none.is_empty() && empty.is_empty());
    }
}
