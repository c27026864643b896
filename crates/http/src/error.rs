//! The error envelope every REST error is answered with, and the one mapping from domain errors
//! to HTTP.
//!
//! ```json
//! {"error": {"code": "invalid_field", "message": "roomName must not be empty",
//!            "statusCode": 400, "field": "roomName",
//!            "fields": [{"field": "roomName", "message": "roomName must not be empty"}],
//!            "requestId": "5b0e…"}}
//! ```
//!
//! `error.message` and `error.statusCode` are what the original product answered (its client
//! shows `error.message`); `error.code` is the stable machine code clients branch on, as in
//! Stripe-style APIs. Validation errors name the field at fault in `field` and list every
//! refused field in `fields`, so a client can fix them all in one round. `requestId` is the
//! request's id (its `X-Request-Id`, see [`crate::request_tracing`]), so a report quoting an
//! error body leads to the request's log lines.

use orchestrator_domain::broadcast::BroadcastError;
use std::fmt;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use orchestrator_domain::{change::TransitionError, error::StreamError, values::ValidationError};
use serde::Serialize;

use crate::request_tracing::RequestId;

/// Seconds a client should wait before retrying a 503.
pub(crate) const RETRY_AFTER_SECS: u64 = 1;

/// The challenge of a `401 unauthorized` (RFC 6750).
const BEARER_CHALLENGE: &str = "Bearer realm=\"livestream-orchestrator\"";

/// One refused request field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field, as clients spell it (camelCase, or a header name).
    pub field: String,
    /// Why it was refused, in words.
    pub message: String,
}

/// An HTTP error answer, rendered as the envelope described in the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    /// Stable machine-readable code; clients branch on it.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// Every refused field, for validation errors (the first is the envelope's `field`).
    pub fields: Vec<FieldError>,
    /// Seconds a client should wait before retrying (`Retry-After`).
    retry_after_secs: Option<u64>,
    /// The methods the path supports, for a 405 (`Allow`).
    allow: Option<String>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
    status_code: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    fields: &'a [FieldError],
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<RequestId>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
            retry_after_secs: None,
            allow: None,
        }
    }

    /// Names the methods the path supports (`Allow`, with a 405).
    #[must_use]
    pub fn with_allow(mut self, methods: impl Into<String>) -> Self {
        self.allow = Some(methods.into());
        self
    }

    /// A 400.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A 400 `invalid_field` listing every refused field (at least one).
    pub fn invalid_fields(errors: impl IntoIterator<Item = ValidationError>) -> Self {
        let fields: Vec<FieldError> = errors
            .into_iter()
            .map(|err| FieldError {
                field: err.field.to_owned(),
                message: err.to_string(),
            })
            .collect();
        let message = match fields.as_slice() {
            [] => "the request is invalid".to_owned(),
            [one] => one.message.clone(),
            several => several
                .iter()
                .map(|f| f.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        };
        Self {
            fields,
            ..Self::bad_request("invalid_field", message)
        }
    }

    /// Names the request field at fault (the message is the error's).
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.fields.push(FieldError {
            field: field.into(),
            message: self.message.clone(),
        });
        self
    }

    /// Tells the client to wait `secs` before retrying (`Retry-After`; a 503 says 1 unless
    /// told otherwise).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// The `Retry-After` of this answer, if any.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after_secs.or_else(|| {
            (self.status == StatusCode::SERVICE_UNAVAILABLE).then_some(RETRY_AFTER_SECS)
        })
    }

    /// The same refusal about a query parameter rather than a body field: `invalid_field`
    /// becomes `invalid_query`; any other error is unchanged.
    pub fn in_query(mut self) -> Self {
        if self.code == "invalid_field" {
            self.code = "invalid_query";
        }
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The first refused field, if any.
    pub fn field(&self) -> Option<&str> {
        self.fields.first().map(|f| f.field.as_str())
    }

    /// The envelope as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.envelope()).unwrap_or_default()
    }

    fn envelope(&self) -> Envelope<'_> {
        Envelope {
            error: Body {
                code: self.code,
                message: &self.message,
                status_code: self.status.as_u16(),
                field: self.field(),
                fields: &self.fields,
                // Rendered while the request is handled, inside its request-id scope.
                request_id: RequestId::current(),
            },
        }
    }
}

/// The envelope answer for `status`, `code` and `message`: what other transports on the HTTP
/// port (the WebSocket handshake) use to answer like the REST routes.
pub fn render(status: StatusCode, code: &'static str, message: String) -> HttpResponse {
    ApiError::new(status, code, message).error_response()
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after_secs() {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        if let Some(allow) = self
            .allow
            .as_deref()
            .and_then(|a| HeaderValue::from_str(a).ok())
        {
            response.insert_header((header::ALLOW, allow));
        }
        // A client too slow to send its body, or over its connection limit, loses the
        // connection: it is what it holds.
        if self.status == StatusCode::REQUEST_TIMEOUT || self.code == "too_many_connections" {
            response.force_close();
        }
        if self.status == StatusCode::UNAUTHORIZED && self.code == "unauthorized" {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(BEARER_CHALLENGE),
            ));
        }
        response.json(self.envelope())
    }
}

impl actix_web::Responder for ApiError {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _req: &actix_web::HttpRequest) -> HttpResponse<Self::Body> {
        self.error_response()
    }
}

impl From<ValidationError> for ApiError {
    fn from(err: ValidationError) -> Self {
        Self::invalid_fields([err])
    }
}

impl From<StreamError> for ApiError {
    fn from(err: StreamError) -> Self {
        let code = orchestrator_domain::policy::codes::of(&err);
        let message = err.to_string();
        match err {
            StreamError::Invalid(invalid)
            | StreamError::Rejected(TransitionError::Invalid(invalid)) => invalid.into(),
            StreamError::NotFound(_)
            | StreamError::Rejected(TransitionError::ParticipantNotFound(_)) => {
                ApiError::new(StatusCode::NOT_FOUND, code, message)
            }
            StreamError::RoomNameTaken(_)
            | StreamError::Rejected(
                TransitionError::InvalidTransition { .. }
                | TransitionError::NotActive(_)
                | TransitionError::VersionConflict { .. },
            ) => ApiError::new(StatusCode::CONFLICT, code, message),
            StreamError::Rejected(TransitionError::PreconditionFailed { .. }) => {
                ApiError::new(StatusCode::PRECONDITION_FAILED, code, message)
            }
            StreamError::MediaUnavailable(why) => {
                tracing::warn!(error = %why, "LiveKit unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    code,
                    "LiveKit is unavailable; retry later",
                )
            }
            StreamError::MediaRejected(why) => {
                tracing::error!(error = %why, "LiveKit refused a request");
                ApiError::new(StatusCode::BAD_GATEWAY, code, "LiveKit refused the request")
            }
            StreamError::StoreUnavailable(why) => {
                tracing::warn!(error = %why, "store unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    code,
                    "the state store is unavailable; retry later",
                )
            }
            StreamError::Broadcast(refused) => {
                ApiError::new(broadcast_status(&refused), code, message)
            }
            StreamError::Internal(why) => {
                tracing::error!(error = %why, "internal error");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, code, "internal error")
            }
        }
    }
}

/// The status of each broadcast refusal.
fn broadcast_status(refused: &BroadcastError) -> StatusCode {
    match refused {
        BroadcastError::IngestNotFound | BroadcastError::OutputNotFound(_) => StatusCode::NOT_FOUND,
        BroadcastError::IngestExists
        | BroadcastError::OutputExists(_)
        | BroadcastError::TooManyOutputs
        | BroadcastError::OutputBusy(_)
        | BroadcastError::Contended(_) => StatusCode::CONFLICT,
        BroadcastError::StorageNotConfigured(_) => StatusCode::UNPROCESSABLE_ENTITY,
        BroadcastError::Unsupported => StatusCode::NOT_IMPLEMENTED,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_envelope_carries_code_message_and_status_code_under_error() {
        let err = ApiError::new(StatusCode::NOT_FOUND, "stream_not_found", "no such stream");

        assert_eq!(
            err.to_json(),
            json!({"error": {"code": "stream_not_found", "message": "no such stream",
                             "statusCode": 404}})
        );
    }

    #[test]
    fn every_refused_field_is_listed_and_the_first_is_the_field() {
        let err = ApiError::invalid_fields([
            ValidationError::new("roomName", "must not be empty"),
            ValidationError::new("metadata", "must be a JSON object, not an array"),
        ]);

        let body = err.to_json();

        assert_eq!(body["error"]["code"], "invalid_field");
        assert_eq!(body["error"]["statusCode"], 400);
        assert_eq!(body["error"]["field"], "roomName");
        assert_eq!(
            body["error"]["fields"],
            json!([
                {"field": "roomName", "message": "roomName must not be empty"},
                {"field": "metadata", "message": "metadata must be a JSON object, not an array"},
            ])
        );
        assert_eq!(
            body["error"]["message"],
            "roomName must not be empty; metadata must be a JSON object, not an array"
        );
    }

    #[test]
    fn domain_messages_are_human_text() {
        let identity = orchestrator_domain::values::Identity::new("user1").unwrap();

        let err = ApiError::from(StreamError::Rejected(TransitionError::ParticipantNotFound(
            identity,
        )));

        assert_eq!(err.message, "participant \"user1\" is not in this stream");
        assert_eq!(err.code, "participant_not_found");
    }

    #[test]
    fn a_503_tells_when_to_retry() {
        let err = ApiError::from(StreamError::StoreUnavailable("down".into()));

        let response = err.error_response();

        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "1");
    }
}
