//! Idempotency keys with Stripe's semantics on every mutating stream route.
//!
//! A request with `Idempotency-Key: <key>` (1–255 visible ASCII characters, else 400) is
//! scoped by method, path and key, and fingerprinted by method, path and body:
//!
//! - first time: it executes; its answer (status, content type, body) is kept for the
//!   retention window (24 h by default), unless it is a 5xx: a failure of a dependency is not
//!   an answer, so a retry executes again;
//! - again within the window, same body: the kept answer is replayed with
//!   `Idempotent-Replayed: true` and nothing executes;
//! - again with another body: 422 `idempotency_key_reused`;
//! - again while the first is still executing: 409 `idempotency_key_in_use`.
//!
//! The store is the [`IdempotencyStore`] port (in memory, or Redis so every instance sees the
//! same keys). Its body is opaque to it: this middleware keeps the replayable headers
//! (`Location`, `ETag`) as header lines before the body, as an HTTP cache stores a response.

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{
    HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, ETAG, LOCATION,
};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use domain::coordination::{
    is_valid_idempotency_key, IdempotencyBegin, IdempotencyStore, StoredResponse,
    MAX_IDEMPOTENCY_KEY_LEN,
};
use sha2::{Digest, Sha256};

use crate::body::read_limited;
use crate::error::ApiError;
use crate::BODY_LIMIT;

/// The request header carrying the key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The response header marking a replay.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// The idempotency store and its timings.
#[derive(Clone)]
pub struct Idempotency {
    /// Where keys live.
    pub store: Arc<dyn IdempotencyStore>,
    /// How long an answer is replayed.
    pub retention: Duration,
    /// How long a key stays "in progress" if its request never finishes (a crashed instance).
    pub lock_ttl: Duration,
}

impl std::fmt::Debug for Idempotency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotency")
            .field("retention", &self.retention)
            .field("lock_ttl", &self.lock_ttl)
            .finish_non_exhaustive()
    }
}

fn is_mutation(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PATCH | Method::DELETE | Method::PUT
    )
}

/// The key of a request, validated; `None` without the header.
fn key_of(req: &ServiceRequest) -> Result<Option<String>, ApiError> {
    let Some(raw) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::bad_request(
            "invalid_idempotency_key",
            format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"
            ),
        )
        .with_field("Idempotency-Key")
    };
    let key = raw.to_str().map_err(|_| invalid())?;
    if !is_valid_idempotency_key(key) {
        return Err(invalid());
    }
    Ok(Some(key.to_owned()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The middleware: wrap the mutating routes with `from_fn(idempotency::middleware)`.
///
/// # Errors
/// Whatever the wrapped service fails with.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !is_mutation(req.method()) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let key = match key_of(&req) {
        Ok(Some(key)) => key,
        Ok(None) => {
            return next
                .call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body)
        }
        Err(err) => return Ok(req.into_response(err.error_response())),
    };
    let Some(idempotency) = req.app_data::<actix_web::web::Data<Idempotency>>().cloned() else {
        // Not configured: keys are accepted and ignored, as without the middleware.
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };

    // The body is part of the fingerprint, so it is read here and handed on unchanged.
    let (http_req, payload) = req.into_parts();
    let declared = http_req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let bytes = match read_limited(payload, declared, BODY_LIMIT).await {
        Ok(bytes) => bytes,
        Err(err) => return Ok(ServiceResponse::new(http_req, err.error_response())),
    };
    let scope = format!("{} {} {key}", http_req.method(), http_req.path());
    let mut digest = Sha256::new();
    digest.update(http_req.method().as_str());
    digest.update(b" ");
    digest.update(http_req.path());
    digest.update(b"\n");
    digest.update(&bytes);
    let fingerprint = hex(&digest.finalize());

    let begun = idempotency
        .store
        .begin(&scope, &fingerprint, idempotency.lock_ttl)
        .await;
    let refusal = match begun {
        Ok(IdempotencyBegin::Started) => None,
        Ok(IdempotencyBegin::Completed(stored)) => {
            return Ok(ServiceResponse::new(http_req, replay(stored)));
        }
        Ok(IdempotencyBegin::InProgress) => Some(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_in_use",
            "a request with this Idempotency-Key is still being processed; retry later",
        )),
        Ok(IdempotencyBegin::Mismatch) => Some(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request",
        )),
        Err(err) => Some(ApiError::from(domain::StreamError::from(err))),
    };
    if let Some(err) = refusal {
        return Ok(ServiceResponse::new(http_req, err.error_response()));
    }

    let req = ServiceRequest::from_parts(http_req, Payload::from(bytes));
    let response = match next.call(req).await {
        Ok(response) => response,
        Err(err) => {
            let _ = idempotency.store.abandon(&scope, &fingerprint).await;
            return Err(err);
        }
    };
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (http_req, response) = response.into_parts();
    let (head, body) = response.into_parts();
    let body = match body::to_bytes(body).await {
        Ok(body) => body,
        Err(_) => {
            let _ = idempotency.store.abandon(&scope, &fingerprint).await;
            let err = ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "internal error",
            );
            return Ok(ServiceResponse::new(http_req, err.error_response()));
        }
    };
    if status.is_server_error() {
        let _ = idempotency.store.abandon(&scope, &fingerprint).await;
    } else {
        let stored = StoredResponse {
            status: status.as_u16(),
            content_type,
            body: envelope(head.headers(), &body),
        };
        if let Err(err) = idempotency
            .store
            .complete(&scope, &fingerprint, stored, idempotency.retention)
            .await
        {
            // The request did execute; a retry after the in-progress lock expires would run it
            // again, which is the best that can be done without the store.
            tracing::warn!(error = %err, "could not record an idempotent response");
        }
    }
    let response = head.set_body(BoxBody::new(body));
    Ok(ServiceResponse::new(http_req, response))
}

/// Headers a replay must carry like the original answer.
const REPLAYED_HEADERS: [HeaderName; 2] = [LOCATION, ETAG];

/// `Name: value\r\n` lines of the replayed headers, an empty line, then the body.
fn envelope(headers: &actix_web::http::header::HeaderMap, body: &[u8]) -> Vec<u8> {
    let mut stored = Vec::with_capacity(body.len() + 64);
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

/// The headers and body of an [`envelope`].
fn open_envelope(stored: &[u8]) -> (Vec<(HeaderName, HeaderValue)>, &[u8]) {
    let mut headers = Vec::new();
    let mut rest = stored;
    while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
        let line = &rest[..end];
        rest = &rest[end + 2..];
        if line.is_empty() {
            return (headers, rest);
        }
        let parsed = line.iter().position(|b| *b == b':').and_then(|colon| {
            let name = HeaderName::from_bytes(&line[..colon]).ok()?;
            let value = HeaderValue::from_bytes(line[colon + 1..].trim_ascii()).ok()?;
            Some((name, value))
        });
        headers.extend(parsed);
    }
    (headers, rest)
}

fn replay(stored: StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    let (headers, body) = open_envelope(&stored.body);
    for header in headers {
        response.insert_header(header);
    }
    if let Some(content_type) = stored.content_type {
        if let Ok(value) = HeaderValue::from_str(&content_type) {
            response.insert_header((CONTENT_TYPE, value));
        }
    }
    response.insert_header((
        HeaderName::from_static(IDEMPOTENT_REPLAYED),
        HeaderValue::from_static("true"),
    ));
    response.body(body.to_vec())
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderMap;

    use super::*;

    #[test]
    fn an_envelope_gives_back_the_replayed_headers_and_the_exact_body() {
        let mut headers = HeaderMap::new();
        headers.insert(LOCATION, HeaderValue::from_static("/streams/1"));
        headers.insert(ETAG, HeaderValue::from_static("\"1\""));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let body = b"{\"a\":\"\r\n\r\n\"}";

        let stored = envelope(&headers, body);
        let (replayed, replayed_body) = open_envelope(&stored);

        assert_eq!(replayed_body, body);
        assert_eq!(
            replayed,
            vec![
                (LOCATION, HeaderValue::from_static("/streams/1")),
                (ETAG, HeaderValue::from_static("\"1\"")),
            ]
        );
        let bare = envelope(&HeaderMap::new(), b"");
        let (none, empty) = open_envelope(&bare);
        assert!(none.is_empty() && empty.is_empty());
    }
}
