//! The JSON error body and the one mapping from domain errors to HTTP.

use std::fmt;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use domain::StreamError;
use serde::Serialize;

/// Seconds a client should wait before retrying a 503.
const RETRY_AFTER_SECS: &str = "1";

/// An HTTP error answer: `{"code": "...", "message": "...", "field"?: "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    /// Stable machine-readable code; clients branch on it.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// The request field at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// A 400.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// Names the request field at fault.
    pub fn with_field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
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
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            ));
        }
        response.json(self)
    }
}

impl actix_web::Responder for ApiError {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _req: &actix_web::HttpRequest) -> HttpResponse<Self::Body> {
        self.error_response()
    }
}

impl From<StreamError> for ApiError {
    fn from(err: StreamError) -> Self {
        let message = err.to_string();
        match err {
            StreamError::Invalid(invalid) => {
                ApiError::bad_request("invalid_field", message).with_field(invalid.field)
            }
            StreamError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "stream_not_found", message)
            }
            StreamError::ParticipantNotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "participant_not_found", message)
            }
            StreamError::RoomNameTaken(_) => {
                ApiError::new(StatusCode::CONFLICT, "room_name_taken", message)
            }
            StreamError::InvalidTransition { .. } => {
                ApiError::new(StatusCode::CONFLICT, "invalid_transition", message)
            }
            StreamError::NotActive(_) => {
                ApiError::new(StatusCode::CONFLICT, "stream_not_active", message)
            }
            StreamError::VersionConflict { .. } => {
                ApiError::new(StatusCode::CONFLICT, "version_conflict", message)
            }
            StreamError::PreconditionFailed { .. } => ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                message,
            ),
            StreamError::MediaUnavailable(why) => {
                tracing::warn!(error = %why, "LiveKit unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "livekit_unavailable",
                    "LiveKit is unavailable; retry later",
                )
            }
            StreamError::MediaRejected(why) => {
                tracing::error!(error = %why, "LiveKit refused a request");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "livekit_error",
                    "LiveKit refused the request",
                )
            }
            StreamError::StoreUnavailable(why) => {
                tracing::warn!(error = %why, "store unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the state store is unavailable; retry later",
                )
            }
            StreamError::Internal(why) => {
                tracing::error!(error = %why, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "internal error",
                )
            }
        }
    }
}
