//! LiveKit's Twirp services: routes, body codec, token auth and Twirp errors, shared by
//! the RoomService (`room`), Ingress (`ingress`) and Egress (`egress`) handlers.
//!
//! Mirrors what LiveKit's server checks, in the same order: route, content type, bearer
//! token, body, then the grant the method needs, so clients see the same error codes.

mod egress;
mod ingress;
mod room;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use livekit_api::access_token::Claims;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::emulator::RecordedCall;
use crate::{Emulator, EmulatorError};

/// One Twirp service of package `livekit`: its methods and how it answers a call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Service {
    name: &'static str,
    methods: &'static [&'static str],
    answer: fn(&Emulator, &Call<'_>) -> Result<HttpResponse, TwirpError>,
}

/// An authenticated call, its body not yet decoded (LiveKit decodes before checking grants).
pub(crate) struct Call<'a> {
    method: &'a str,
    codec: Codec,
    claims: Claims,
    body: &'a [u8],
    request: &'a HttpRequest,
}

impl Call<'_> {
    fn decode<T>(&self) -> Result<T, TwirpError>
    where
        T: prost::Message + Default + DeserializeOwned,
    {
        self.codec.decode(self.body)
    }

    fn encode<T>(&self, message: &T) -> Result<HttpResponse, TwirpError>
    where
        T: prost::Message + Serialize,
    {
        self.codec.encode(message)
    }

    fn unknown_method(&self) -> TwirpError {
        TwirpError::bad_route(format!("no handler for method {}", self.method))
    }
}

const SERVICES: [Service; 3] = [room::SERVICE, ingress::SERVICE, egress::SERVICE];

/// A Twirp error: rendered as `{"code": .., "msg": ..}` with the HTTP status Twirp assigns.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {msg}")]
pub(crate) struct TwirpError {
    code: &'static str,
    msg: String,
}

impl TwirpError {
    pub fn new(code: &'static str, msg: impl Into<String>) -> Self {
        Self {
            code,
            msg: msg.into(),
        }
    }

    pub fn bad_route(msg: impl Into<String>) -> Self {
        Self::new("bad_route", msg)
    }

    pub fn malformed(msg: impl Into<String>) -> Self {
        Self::new("malformed", msg)
    }

    fn unauthenticated(msg: impl Into<String>) -> Self {
        Self::new("unauthenticated", msg)
    }

    fn internal(msg: impl Into<String>) -> Self {
        Self::new("internal", msg)
    }
}

impl From<EmulatorError> for TwirpError {
    fn from(error: EmulatorError) -> Self {
        Self::new(error.twirp_code(), error.message())
    }
}

impl ResponseError for TwirpError {
    fn status_code(&self) -> StatusCode {
        match self.code {
            "invalid_argument" | "malformed" | "out_of_range" | "failed_precondition" => {
                StatusCode::BAD_REQUEST
            }
            "unauthenticated" => StatusCode::UNAUTHORIZED,
            "permission_denied" => StatusCode::FORBIDDEN,
            "not_found" | "bad_route" => StatusCode::NOT_FOUND,
            "already_exists" | "aborted" => StatusCode::CONFLICT,
            "resource_exhausted" => StatusCode::TOO_MANY_REQUESTS,
            "unimplemented" => StatusCode::NOT_IMPLEMENTED,
            "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            "deadline_exceeded" => StatusCode::GATEWAY_TIMEOUT,
            "canceled" => StatusCode::REQUEST_TIMEOUT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ))
            .body(serde_json::json!({ "code": self.code, "msg": self.msg }).to_string())
    }
}

/// Registers the Twirp services, and a catch-all so other Twirp services get `bad_route`.
pub(crate) fn configure(cfg: &mut web::ServiceConfig, emulator: Emulator) {
    for service in SERVICES {
        let emulator = emulator.clone();
        let path = format!("/twirp/livekit.{}/{{method}}", service.name);
        cfg.service(web::resource(path).route(web::route().to(
            move |req: HttpRequest, body: web::Bytes| {
                let emulator = emulator.clone();
                async move { handle(&emulator, service, &req, &body) }
            },
        )));
    }
    cfg.service(web::resource("/twirp/{tail:.*}").route(web::route().to(
        |req: HttpRequest| async move {
            Err::<HttpResponse, _>(TwirpError::bad_route(format!(
                "no handler for path {}",
                req.path()
            )))
        },
    )));
}

fn handle(
    emulator: &Emulator,
    service: Service,
    req: &HttpRequest,
    body: &[u8],
) -> Result<HttpResponse, TwirpError> {
    let method = req.match_info().get("method").unwrap_or_default();
    if !service.methods.contains(&method) {
        return Err(TwirpError::bad_route(format!(
            "no handler for path {}",
            req.path()
        )));
    }
    if req.method() != Method::POST {
        return Err(TwirpError::bad_route(format!(
            "unsupported method {} (only POST is allowed)",
            req.method()
        )));
    }
    emulator.record_call(RecordedCall {
        method: method.to_owned(),
        traceparent: req
            .headers()
            .get("traceparent")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned),
    });
    let codec = Codec::of(req)?;
    let claims = authenticate(emulator, req)?;
    let call = Call {
        method,
        codec,
        claims,
        body,
        request: req,
    };
    (service.answer)(emulator, &call)
}

/// The two body encodings Twirp allows; responses use the request's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    Protobuf,
    Json,
}

impl Codec {
    fn of(req: &HttpRequest) -> Result<Self, TwirpError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "application/protobuf" | "application/x-protobuf" => Ok(Self::Protobuf),
            "application/json" => Ok(Self::Json),
            _ => Err(TwirpError::bad_route(format!(
                "unexpected Content-Type: {content_type:?}"
            ))),
        }
    }

    fn decode<T>(self, body: &[u8]) -> Result<T, TwirpError>
    where
        T: prost::Message + Default + DeserializeOwned,
    {
        match self {
            Self::Protobuf => T::decode(body)
                .map_err(|e| TwirpError::malformed(format!("failed to parse request proto: {e}"))),
            Self::Json => serde_json::from_slice(body)
                .map_err(|e| TwirpError::malformed(format!("failed to parse request json: {e}"))),
        }
    }

    fn encode<T>(self, message: &T) -> Result<HttpResponse, TwirpError>
    where
        T: prost::Message + Serialize,
    {
        match self {
            Self::Protobuf => Ok(HttpResponse::Ok()
                .content_type("application/protobuf")
                .body(message.encode_to_vec())),
            Self::Json => json_response(message),
        }
    }
}

/// A 200 response carrying the proto3 JSON of `message`.
pub(crate) fn json_response<T: Serialize>(message: &T) -> Result<HttpResponse, TwirpError> {
    let body = serde_json::to_vec(message)
        .map_err(|e| TwirpError::internal(format!("failed to encode response: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}

fn authenticate(emulator: &Emulator, req: &HttpRequest) -> Result<Claims, TwirpError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| TwirpError::unauthenticated("missing authorization header"))?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            TwirpError::unauthenticated("authorization header must be a bearer token")
        })?;
    Ok(emulator.verify(token)?)
}

fn require(granted: bool, grant: &str) -> Result<(), TwirpError> {
    if granted {
        Ok(())
    } else {
        Err(EmulatorError::PermissionDenied(format!("token lacks the {grant} grant")).into())
    }
}

/// The grant check of LiveKit's Ingress and Egress services, which answer a missing grant
/// with `unauthenticated` ("permissions denied").
fn require_or_unauthenticated(granted: bool, grant: &str) -> Result<(), TwirpError> {
    if granted {
        Ok(())
    } else {
        Err(TwirpError::unauthenticated(format!(
            "permissions denied: token lacks the {grant} grant"
        )))
    }
}
