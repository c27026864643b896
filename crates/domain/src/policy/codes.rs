//! The orchestrator service's public error codes: the stable machine `code` its error envelope,
//! WebSocket errors and gRPC statuses carry, which clients branch on. They are the service's
//! contract (some name LiveKit, the media server it runs on), so they live here and not on the
//! errors themselves. A code never changes for an error that keeps its meaning.

use crate::broadcast::BroadcastError;
use crate::change::TransitionError;
use crate::error::StreamError;

/// The public code of an operation's error.
pub fn of(err: &StreamError) -> &'static str {
    match err {
        StreamError::Invalid(_) => "invalid_field",
        StreamError::NotFound(_) => "stream_not_found",
        StreamError::Rejected(rejected) => of_transition(rejected),
        StreamError::RoomNameTaken(_) => "room_name_taken",
        StreamError::MediaUnavailable(_) => "livekit_unavailable",
        StreamError::MediaRejected(_) => "livekit_error",
        StreamError::StoreUnavailable(_) => "store_unavailable",
        StreamError::Broadcast(refused) => of_broadcast(refused),
        StreamError::Internal(_) => "internal_error",
    }
}

/// The public code of a refusal by a stream's rules.
pub(crate) fn of_transition(err: &TransitionError) -> &'static str {
    match err {
        TransitionError::InvalidTransition { .. } => "invalid_transition",
        TransitionError::NotActive(_) => "stream_not_active",
        TransitionError::VersionConflict { .. } => "version_conflict",
        TransitionError::PreconditionFailed { .. } => "precondition_failed",
        TransitionError::Invalid(_) => "invalid_field",
        TransitionError::ParticipantNotFound(_) => "participant_not_found",
    }
}

/// The public code of a refused broadcast operation.
pub(crate) fn of_broadcast(err: &BroadcastError) -> &'static str {
    match err {
        BroadcastError::IngestNotFound => "ingest_not_found",
        BroadcastError::IngestExists => "ingest_exists",
        BroadcastError::OutputNotFound(_) => "output_not_found",
        BroadcastError::OutputExists(_) => "output_exists",
        BroadcastError::TooManyOutputs => "too_many_outputs",
        BroadcastError::OutputBusy(_) => "output_busy",
        BroadcastError::StorageNotConfigured(_) => "storage_not_configured",
        BroadcastError::Contended(_) => "broadcast_contended",
        BroadcastError::Unsupported => "broadcast_unsupported",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::ValidationError;

    #[test]
    fn an_invalid_field_has_one_code_whether_the_request_or_the_rules_refused_it() {
        let invalid = ValidationError::new("metadata", "must be a JSON object");

        assert_eq!(of(&StreamError::Invalid(invalid.clone())), "invalid_field");
        assert_eq!(
            of(&StreamError::Rejected(TransitionError::Invalid(invalid))),
            "invalid_field"
        );
    }

    #[test]
    fn the_media_servers_errors_keep_the_codes_clients_already_branch_on() {
        assert_eq!(
            of(&StreamError::MediaUnavailable("down".into())),
            "livekit_unavailable"
        );
        assert_eq!(
            of(&StreamError::MediaRejected("refused".into())),
            "livekit_error"
        );
    }
}
