//! The one error of every call: [`ClientError`]. A refusal by the service carries its error
//! envelope ([`ApiError`]) with the stable `code` to branch on:
//!
//! ```json
//! {"error": {"code": "invalid_field", "message": "roomName must not be empty",
//!            "statusCode": 400, "field": "roomName",
//!            "fields": [{"field": "roomName", "message": "roomName must not be empty"}],
//!            "requestId": "5b0e…"}}
//! ```

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One refused request field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field, as the API spells it (`roomName`, a query parameter, a header).
    pub field: String,
    /// Why it was refused.
    pub message: String,
}

/// A refusal by the service: its HTTP status and error envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status (the envelope's `statusCode` repeats it).
    pub status: u16,
    /// The stable machine code (`stream_not_found`, `invalid_transition`, …).
    pub code: String,
    /// For people.
    pub message: String,
    /// The first field at fault, for validation errors.
    pub field: Option<String>,
    /// Every refused field, for validation errors.
    pub fields: Vec<FieldError>,
    /// The request's id (`X-Request-Id`): quote it when reporting a problem.
    pub request_id: Option<String>,
    /// How long the service asked to wait before retrying (`Retry-After`).
    pub retry_after: Option<Duration>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)?;
        if let Some(id) = &self.request_id {
            write!(f, " (request {id})")?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct Envelope {
    error: EnvelopeBody,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopeBody {
    code: String,
    message: String,
    field: Option<String>,
    #[serde(default)]
    fields: Vec<FieldError>,
    request_id: Option<String>,
}

impl ApiError {
    /// The error of an answer with `status` and `body`: its envelope, or — for a body that is
    /// not one (a proxy's page, say) — `http_<status>` with the start of the body as message.
    pub(crate) fn from_answer(
        status: u16,
        body: &[u8],
        request_id: Option<String>,
        retry_after: Option<Duration>,
    ) -> Self {
        match serde_json::from_slice::<Envelope>(body) {
            Ok(Envelope { error }) => Self {
                status,
                code: error.code,
                message: error.message,
                field: error.field,
                fields: error.fields,
                request_id: error.request_id.or(request_id),
                retry_after,
            },
            Err(_) => Self {
                status,
                code: format!("http_{status}"),
                message: excerpt(body),
                field: None,
                fields: Vec::new(),
                request_id,
                retry_after,
            },
        }
    }
}

/// The first 200 characters of a body, for a message.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut excerpt: String = text.chars().take(200).collect();
    if excerpt.len() < text.len() {
        excerpt.push('…');
    }
    excerpt
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The service refused the request (any non-2xx answer): its error envelope.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// The request could not be sent or its answer not read (connection refused, reset, DNS).
    #[error("transport: {0}")]
    Transport(#[source] reqwest::Error),
    /// No answer within the deadline. A mutation may or may not have happened: call again
    /// with the same idempotency key to find out without doing it twice.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// A 2xx answer that is not what the API documents.
    #[error("unexpected answer to {what}: {reason}")]
    Decode {
        /// The call.
        what: String,
        /// What did not fit.
        reason: String,
    },
    /// The request body could not be written as JSON.
    #[error("cannot send {what}: {reason}")]
    Encode {
        /// The call.
        what: String,
        /// Why.
        reason: String,
    },
    /// Every retry the policy allows failed; `last` is the last failure.
    #[error("gave up after {attempts} attempts in {elapsed:?}: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// Time since the first.
        elapsed: Duration,
        /// The last failure.
        last: Box<ClientError>,
    },
    /// A URL the client was given is not usable.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// TLS could not be set up.
    #[error("TLS: {0}")]
    Tls(String),
    /// The WebSocket failed (handshake refusals are [`ClientError::Api`]).
    #[error("WebSocket: {0}")]
    WebSocket(#[source] Box<tokio_tungstenite::tungstenite::Error>),
    /// A subscription's connection was lost: closed by the service (with its reason, e.g.
    /// `server shutting down; …`), reset, or silent for too long.
    #[error("disconnected: {0}")]
    Disconnected(String),
    /// The WebSocket protocol refused a subscription (`error {code, message}`):
    /// `stream_not_found`, `invalid_message`, `too_many_subscriptions`.
    #[error("subscription refused: {code}: {message}")]
    Subscription {
        /// The protocol's error code.
        code: String,
        /// For people.
        message: String,
    },
    /// A gRPC call failed with this status.
    #[error("gRPC {}: {}", .0.code(), .0.message())]
    Grpc(Box<tonic::Status>),
    /// The gRPC channel could not be set up.
    #[error("gRPC transport: {0}")]
    GrpcTransport(#[source] tonic::transport::Error),
    /// A subscription received an event past the next one: the service broke its promise of
    /// no gaps. The subscription ends; resubscribe after the last seq received to fill it.
    #[error("stream {stream_id}: expected seq {expected}, got {got}")]
    Gap {
        /// The stream.
        stream_id: String,
        /// The seq that should have come.
        expected: u64,
        /// The seq that came.
        got: u64,
    },
}

impl ClientError {
    /// The service's stable error code, when the service answered with one (also through
    /// [`ClientError::GaveUp`]): the envelope's `code`, the WebSocket protocol's, or for gRPC
    /// the status code's name (`NOT_FOUND` …).
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api(api) => Some(&api.code),
            ClientError::Subscription { code, .. } => Some(code),
            ClientError::GaveUp { last, .. } => last.code(),
            ClientError::Grpc(status) => Some(grpc_code_name(status.code())),
            ClientError::Transport(_)
            | ClientError::Timeout(_)
            | ClientError::Decode { .. }
            | ClientError::Encode { .. }
            | ClientError::InvalidUrl { .. }
            | ClientError::Tls(_)
            | ClientError::WebSocket(_)
            | ClientError::Disconnected(_)
            | ClientError::GrpcTransport(_)
            | ClientError::Gap { .. } => None,
        }
    }

    /// The HTTP status of the service's refusal (also through [`ClientError::GaveUp`]).
    pub fn status(&self) -> Option<u16> {
        self.api().map(|api| api.status)
    }

    /// The service's error envelope (also through [`ClientError::GaveUp`]).
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            ClientError::Api(api) => Some(api),
            ClientError::GaveUp { last, .. } => last.api(),
            ClientError::Transport(_)
            | ClientError::Timeout(_)
            | ClientError::Decode { .. }
            | ClientError::Encode { .. }
            | ClientError::InvalidUrl { .. }
            | ClientError::Tls(_)
            | ClientError::WebSocket(_)
            | ClientError::Disconnected(_)
            | ClientError::Subscription { .. }
            | ClientError::Grpc(_)
            | ClientError::GrpcTransport(_)
            | ClientError::Gap { .. } => None,
        }
    }
}

impl From<tonic::Status> for ClientError {
    fn from(status: tonic::Status) -> Self {
        ClientError::Grpc(Box::new(status))
    }
}

fn grpc_code_name(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::Ok => "OK",
        tonic::Code::Cancelled => "CANCELLED",
        tonic::Code::Unknown => "UNKNOWN",
        tonic::Code::InvalidArgument => "INVALID_ARGUMENT",
        tonic::Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        tonic::Code::NotFound => "NOT_FOUND",
        tonic::Code::AlreadyExists => "ALREADY_EXISTS",
        tonic::Code::PermissionDenied => "PERMISSION_DENIED",
        tonic::Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        tonic::Code::FailedPrecondition => "FAILED_PRECONDITION",
        tonic::Code::Aborted => "ABORTED",
        tonic::Code::OutOfRange => "OUT_OF_RANGE",
        tonic::Code::Unimplemented => "UNIMPLEMENTED",
        tonic::Code::Internal => "INTERNAL",
        tonic::Code::Unavailable => "UNAVAILABLE",
        tonic::Code::DataLoss => "DATA_LOSS",
        tonic::Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_becomes_an_api_error_with_every_field() {
        let body = br#"{"error": {"code": "invalid_field", "message": "roomName must not be empty",
            "statusCode": 400, "field": "roomName",
            "fields": [{"field": "roomName", "message": "roomName must not be empty"}],
            "requestId": "req-1"}}"#;

        let error = ApiError::from_answer(400, body, None, None);

        assert_eq!(error.code, "invalid_field");
        assert_eq!(error.field.as_deref(), Some("roomName"));
        assert_eq!(error.fields.len(), 1);
        assert_eq!(error.request_id.as_deref(), Some("req-1"));
        assert_eq!(
            error.to_string(),
            "400 invalid_field: roomName must not be empty (request req-1)"
        );
    }

    #[test]
    fn a_body_that_is_not_an_envelope_is_named_by_its_status() {
        let error = ApiError::from_answer(502, b"<html>Bad gateway</html>", None, None);

        assert_eq!(error.code, "http_502");
        assert_eq!(error.message, "<html>Bad gateway</html>");
    }

    #[test]
    fn the_code_survives_giving_up() {
        let last = ClientError::Api(Box::new(ApiError::from_answer(
            503,
            br#"{"error": {"code": "store_unavailable", "message": "down", "statusCode": 503}}"#,
            None,
            Some(Duration::from_secs(1)),
        )));
        let gave_up = ClientError::GaveUp {
            attempts: 4,
            elapsed: Duration::from_secs(3),
            last: Box::new(last),
        };

        assert_eq!(gave_up.code(), Some("store_unavailable"));
        assert_eq!(gave_up.status(), Some(503));
        assert_eq!(
            ClientError::from(tonic::Status::not_found("no")).code(),
            Some("NOT_FOUND")
        );
    }
}
