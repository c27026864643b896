//! Request bodies: read with a size limit, content type checked, JSON parsed, and every
//! failure answered with the right 4xx instead of a 500.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::BODY_LIMIT;

/// A JSON request body. An empty body reads as `{}` so that requests whose fields are all
/// optional need no body at all.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = is_json(req);
        let declared = declared_length(req);
        let payload = payload.take();
        Box::pin(async move {
            let bytes = read_limited(payload, declared, BODY_LIMIT).await?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return parse(b"{}").map(JsonBody);
            }
            if !content_type_ok {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "the body must be application/json",
                ));
            }
            parse(&bytes).map(JsonBody)
        })
    }
}

/// Parses a JSON body. A value of the wrong type is `invalid_field` naming the field (its path,
/// e.g. `metadata.title`); anything that is not JSON is `malformed_json`.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        json_error(err.into_inner(), &path)
    })?;
    deserializer.end().map_err(|err| json_error(err, "."))?;
    Ok(value)
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
fn is_json(req: &HttpRequest) -> bool {
    media_type(req).is_some_and(|mime| {
        mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
    })
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
/// `Content-Length` before reading, or while streaming a chunked body).
pub async fn read_limited(
    mut payload: Payload,
    declared: Option<usize>,
    limit: usize,
) -> Result<Bytes, ApiError> {
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large(limit));
    }
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
        let payload = payload.take();
        Box::pin(async move {
            read_limited(payload, declared, BODY_LIMIT)
                .await
                .map(RawBody)
        })
    }
}
