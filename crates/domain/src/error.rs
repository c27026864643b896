//! [`StreamError`]: everything an operation of the [`StreamService`](crate::StreamService) can
//! report, with the stable machine [`code`](StreamError::code) every transport shows. Each
//! transport maps it to its status with one exhaustive `match` (HTTP status in the http crate,
//! gRPC code in the grpc crate); the codes live here, once.

use crate::broadcast::BroadcastError;
use crate::change::TransitionError;
use crate::ports::{MediaError, StoreError, TokenError};
use crate::values::{RoomName, ValidationError};

/// Everything that can go wrong in an operation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StreamError {
    /// A request field is invalid (400).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// No stream has this id (404).
    #[error("stream \"{0}\" does not exist")]
    NotFound(String),
    /// The stream's rules refuse the change (409, or as the [`TransitionError`] says).
    #[error(transparent)]
    Rejected(#[from] TransitionError),
    /// A stream that is not stopped already uses the room name (409).
    #[error("room name \"{0}\" is already used by a stream that is not stopped")]
    RoomNameTaken(RoomName),
    /// LiveKit is unreachable or failing (503).
    #[error("LiveKit is unavailable: {0}")]
    MediaUnavailable(String),
    /// LiveKit refused our request (502).
    #[error("LiveKit refused the request: {0}")]
    MediaRejected(String),
    /// The store is unreachable (503).
    #[error("the store is unavailable: {0}")]
    StoreUnavailable(String),
    /// A broadcast operation was refused (404, 409 or 422, as the [`BroadcastError`] says).
    #[error(transparent)]
    Broadcast(#[from] BroadcastError),
    /// A bug or misconfiguration on our side (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl StreamError {
    /// The stable machine code clients branch on (the public contract; never changes for an
    /// error that keeps its meaning).
    pub fn code(&self) -> &'static str {
        match self {
            StreamError::Invalid(_) | StreamError::Rejected(TransitionError::Invalid(_)) => {
                "invalid_field"
            }
            StreamError::NotFound(_) => "stream_not_found",
            StreamError::Rejected(rejected) => rejected.code(),
            StreamError::RoomNameTaken(_) => "room_name_taken",
            StreamError::MediaUnavailable(_) => "livekit_unavailable",
            StreamError::MediaRejected(_) => "livekit_error",
            StreamError::StoreUnavailable(_) => "store_unavailable",
            StreamError::Broadcast(refused) => refused.code(),
            StreamError::Internal(_) => "internal_error",
        }
    }

    /// The refused request field, for validation errors.
    pub fn invalid_field(&self) -> Option<&ValidationError> {
        match self {
            StreamError::Invalid(invalid)
            | StreamError::Rejected(TransitionError::Invalid(invalid)) => Some(invalid),
            StreamError::NotFound(_)
            | StreamError::Rejected(_)
            | StreamError::RoomNameTaken(_)
            | StreamError::MediaUnavailable(_)
            | StreamError::MediaRejected(_)
            | StreamError::StoreUnavailable(_)
            | StreamError::Broadcast(_)
            | StreamError::Internal(_) => None,
        }
    }
}

impl TransitionError {
    /// The stable machine code of the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            TransitionError::InvalidTransition { .. } => "invalid_transition",
            TransitionError::NotActive(_) => "stream_not_active",
            TransitionError::VersionConflict { .. } => "version_conflict",
            TransitionError::PreconditionFailed { .. } => "precondition_failed",
            TransitionError::Invalid(_) => "invalid_field",
            TransitionError::ParticipantNotFound(_) => "participant_not_found",
        }
    }
}

impl From<StoreError> for StreamError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(why) => StreamError::StoreUnavailable(why),
            StoreError::Corrupt(why) => StreamError::Internal(why),
        }
    }
}

impl From<MediaError> for StreamError {
    fn from(err: MediaError) -> Self {
        match err {
            MediaError::Unavailable(why) => StreamError::MediaUnavailable(why),
            MediaError::Rejected(why) | MediaError::NotFound(why) => {
                StreamError::MediaRejected(why)
            }
        }
    }
}

impl From<TokenError> for StreamError {
    fn from(err: TokenError) -> Self {
        StreamError::Internal(err.to_string())
    }
}
