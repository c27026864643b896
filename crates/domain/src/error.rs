//! [`StreamError`]: everything an operation of the [`StreamService`](crate::service::StreamService)
//! can report. It says what went wrong, not how a transport shows it: each transport maps it with
//! one exhaustive `match` (which is why it is deliberately not `#[non_exhaustive]`: a new variant
//! must fail every transport's build until it is mapped), and the orchestrator service's public
//! codes are its own policy, in [`policy::codes`](crate::policy::codes).

use crate::broadcast::BroadcastError;
use crate::change::TransitionError;
use crate::ports::{MediaError, StoreError, TokenError};
use crate::values::{RoomName, ValidationError};

/// Everything that can go wrong in an operation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StreamError {
    /// A request field is invalid: the caller's fault.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// No stream has this id.
    #[error("stream \"{0}\" does not exist")]
    NotFound(String),
    /// The stream's rules refuse the change (see the [`TransitionError`]).
    #[error(transparent)]
    Rejected(#[from] TransitionError),
    /// A stream that is not stopped already uses the room name.
    #[error("room name \"{0}\" is already used by a stream that is not stopped")]
    RoomNameTaken(RoomName),
    /// The media server is unreachable or failing: retry later.
    #[error("the media server is unavailable: {0}")]
    MediaUnavailable(String),
    /// The media server refused the request (our request or credentials are wrong).
    #[error("the media server refused the request: {0}")]
    MediaRejected(String),
    /// The store is unreachable: retry later.
    #[error("the store is unavailable: {0}")]
    StoreUnavailable(String),
    /// A broadcast operation was refused (see the [`BroadcastError`]).
    #[error(transparent)]
    Broadcast(#[from] BroadcastError),
    /// A bug or a misconfiguration.
    #[error("internal error: {0}")]
    Internal(String),
}

impl StreamError {
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
