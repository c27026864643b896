//! Request bodies: read with a size limit, content type checked, JSON parsed, and every
//! failure answered with the right 4xx instead of a 500.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::BODY_LIMIT;

/// How long a client may take to send a whole request body (408 and the connection closed
/// beyond, so a client trickling bytes cannot hold a connection for ever). Set it with
/// `App::app_data(BodyTimeout(..))`; [`BodyTimeout::DEFAULT`] otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTimeout(pub Duration);

impl BodyTimeout {
    /// Without configuration.
    pub const DEFAULT: BodyTimeout = BodyTimeout(Duration::from_secs(10));

    /// The timeout of `req`'s app.
    pub fn of(req: &HttpRequest) -> Duration {
        req.app_data::<BodyTimeout>()
            .copied()
            .unwrap_or(Self::DEFAULT)
            .0
    }
}

/// A JSON request body. An empty body without a `Content-Type` reads as `{}`, so requests whose
/// fields are all optional need no body at all; any other content type is a 415, even with an
/// empty body (a cross-site form, whose content type is never JSON, cannot call the API).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type = media_type(req);
        let declared = declared_length(req);
        let timeout = BodyTimeout::of(req);
        let payload = payload.take();
        Box::pin(async move {
            if content_type.as_deref().is_some_and(|mime| !is_json(mime)) {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "the body must be application/json",
                ));
            }
            let bytes = read_limited(payload, declared, BODY_LIMIT, timeout).await?;
            let empty = bytes.iter().all(u8::is_ascii_whitespace);
            match (empty, content_type) {
                (true, _) => parse(b"{}").map(JsonBody),
                (false, Some(_)) => parse(&bytes).map(JsonBody),
                (false, None) => Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "the body must be application/json (send Content-Type: application/json)",
                )),
            }
        })
    }
}

/// Parses a JSON body. A value of the wrong type is `invalid_field` naming the field (its path,
/// e.g. `metadata.title`); anything that is not JSON is `malformed_json`.
///
/// The whole document is read as JSON first: deserializing straight into `T` would skip an
/// unknown field without checking it, and a body hiding invalid UTF-8, a lone surrogate, a number
/// out of range or nesting past serde_json's limit there would be accepted. Bodies are small
/// (64 KiB at most), so reading them twice costs little.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let document: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|err| json_error(err, "."))?;
    // serde's derived structs also accept the sequence form (`[]` would be a create with
    // every default); every body of this API is an object.
    if !document.is_object() {
        return Err(ApiError::bad_request(
            "invalid_field",
            "the body must be a JSON object",
        ));
    }
    serde_path_to_error::deserialize(document).map_err(|err| {
        let path = err.path().to_string();
        json_error(err.into_inner(), &path)
    })
}

fn json_error(err: serde_json::Error, path: &str) -> ApiError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Data if path == "." => {
            ApiError::bad_request("invalid_field", "the body must be a JSON object")
        }
        Category::Data => ApiError::bad_request(
            "invalid_field",
            format!("{path}: {}", without_position(&err)),
        )
        .with_field(path),
        Category::Io | Category::Syntax | Category::Eof => ApiError::bad_request(
            "malformed_json",
            format!("the body is not valid JSON: {err}"),
        ),
    }
}

/// serde_json's message without its ` at line L column C` suffix (noise once the field is named).
fn without_position(err: &serde_json::Error) -> String {
    let message = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    message
        .strip_suffix(&suffix)
        .map_or_else(|| message.clone(), str::to_owned)
}

/// `application/json` or any `application/*+json` (e.g. `merge-patch+json`).
fn is_json(mime: &str) -> bool {
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// The request's media type, lowercased, without parameters.
pub fn media_type(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    Some(essence)
}

fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the body must be at most {limit} bytes"),
    )
}

/// Reads the whole body, refusing it as soon as it is known to exceed `limit` (from
/// `Content-Length` before reading, or while streaming a chunked body), or when it has not
/// arrived within `timeout` (408).
pub async fn read_limited(
    payload: Payload,
    declared: Option<usize>,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large(limit));
    }
    match tokio::time::timeout(timeout, read_all(payload, declared, limit)).await {
        Ok(read) => read,
        Err(_) => {
            tracing::debug!(?timeout, "request body too slow; closing the connection");
            Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!("the body did not arrive within {} s", timeout.as_secs_f64()),
            ))
        }
    }
}

async fn read_all(
    mut payload: Payload,
    declared: Option<usize>,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let mut body = BytesMut::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|err| {
            ApiError::bad_request("unreadable_body", format!("could not read the body: {err}"))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A raw body with the size limit, for routes that verify the exact bytes (webhooks).
#[derive(Debug)]
pub struct RawBody(pub Bytes);

impl FromRequest for RawBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let declared = declared_length(req);
        let timeout = BodyTimeout::of(req);
        let payload = payload.take();
        Box::pin(async move {
            read_limited(payload, declared, BODY_LIMIT, timeout)
                .await
                .map(RawBody)
        })
    }
}
