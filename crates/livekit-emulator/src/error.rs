//! Errors of emulator operations.

/// Why an emulator operation was refused. Each variant maps onto the Twirp error code LiveKit
/// would return for the same situation.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The token is missing, malformed, expired or signed with other credentials.
    #[error("unauthenticated: {0}")]
    Unauthorized(String),
    /// The token is valid but lacks the grant the operation needs.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The room, participant or track does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request is well-formed but its values are unacceptable.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A limit was reached, e.g. the room is full.
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),
    /// The target is not in a state that allows the operation, e.g. stopping an egress that
    /// has already ended.
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// The service cannot take the call right now; retrying later may succeed.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl EmulatorError {
    /// The Twirp error code LiveKit uses for this kind of failure.
    pub fn twirp_code(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) => "unauthenticated",
            Self::PermissionDenied(_) => "permission_denied",
            Self::NotFound(_) => "not_found",
            Self::InvalidArgument(_) => "invalid_argument",
            Self::ResourceExhausted(_) => "resource_exhausted",
            Self::FailedPrecondition(_) => "failed_precondition",
            Self::Unavailable(_) => "unavailable",
        }
    }

    /// The message without the code prefix, as it goes into a Twirp error body.
    pub fn message(&self) -> &str {
        match self {
            Self::Unauthorized(msg)
            | Self::PermissionDenied(msg)
            | Self::NotFound(msg)
            | Self::InvalidArgument(msg)
            | Self::ResourceExhausted(msg)
            | Self::FailedPrecondition(msg)
            | Self::Unavailable(msg) => msg,
        }
    }
}
