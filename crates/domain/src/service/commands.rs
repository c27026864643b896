//! What the operations of the [`StreamService`](crate::service::StreamService) take and answer.

use crate::change::ExpectedVersion;
use crate::participant::{Participant, Role};
use crate::stream::{Stream, StreamStatus};
use crate::values::{Cursor, Identity, Metadata, RoomName, StreamId};

/// Create a stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateStream {
    /// Room to use; `room-<id>` when absent.
    pub room_name: Option<RoomName>,
    /// Initial metadata.
    pub metadata: Metadata,
    /// Outputs declared with the stream (at most [`MAX_OUTPUTS`](crate::broadcast::MAX_OUTPUTS)).
    pub outputs: Vec<super::broadcast::NewOutput>,
}

/// List streams.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListStreams {
    /// Only streams with this status.
    pub status: Option<StreamStatus>,
    /// Page size: 1 to [`ListStreams::MAX_LIMIT`], [`ListStreams::DEFAULT_LIMIT`] when absent.
    pub limit: Option<usize>,
    /// Continue after a previous page.
    pub cursor: Option<Cursor>,
}

impl ListStreams {
    /// Page size when none is asked for.
    pub const DEFAULT_LIMIT: usize = 100;
    /// Largest page size.
    pub const MAX_LIMIT: usize = 1000;
}

/// List a stream's participants.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListParticipants {
    /// Only those present now.
    pub active_only: bool,
    /// Page size: 1 to [`ListStreams::MAX_LIMIT`], [`ListStreams::DEFAULT_LIMIT`] when absent.
    pub limit: Option<usize>,
    /// Continue after a previous page.
    pub cursor: Option<Cursor>,
}

/// A stream with, for a small audience, its participants: what `GET /streams/:id` and
/// `/state` show. The cost of building it is bounded whatever the audience size.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StreamView {
    /// The stream, with its audience counters.
    pub stream: Stream,
    /// Everyone who ever joined, in order of first join, when at most
    /// [`StreamView::INLINE_PARTICIPANTS`] did; empty otherwise (page through
    /// [`StreamService::participants`](crate::service::StreamService::participants)).
    pub participants: Vec<Participant>,
    /// True when the stream has more participants than are shown inline.
    pub truncated: bool,
}

impl StreamView {
    /// Most participants shown inline with a stream.
    pub const INLINE_PARTICIPANTS: usize = 100;
}

/// A page of streams, each as [`StreamService::view`](crate::service::StreamService::view) shows it: what `GET /streams` lists.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ViewPage {
    /// The streams of this page, each with its participants inline while it has few.
    pub items: Vec<StreamView>,
    /// Where the next page starts, if there is one.
    pub next: Option<crate::values::Cursor>,
}

/// What leaving did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Departure {
    /// The stream afterwards (its counters and seq include the leave).
    pub stream: Stream,
    /// The participant afterwards.
    pub participant: Participant,
}

/// Change a stream's status and/or metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateStream {
    /// Target status. `stopping` or `stopped` runs the stop procedure (the room is deleted).
    pub status: Option<StreamStatus>,
    /// Merge patch for the metadata.
    pub metadata: Option<Metadata>,
    /// Required current version.
    pub expected: Option<ExpectedVersion>,
}

/// Join a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinStream {
    /// Who joins.
    pub identity: Identity,
    /// What they may do.
    pub role: Role,
    /// Their metadata.
    pub metadata: Option<Metadata>,
}

/// What a participant needs to connect to the stream's room.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JoinTicket {
    /// Signed LiveKit access token.
    pub token: String,
    /// The stream joined.
    pub stream_id: StreamId,
    /// The participant's identity.
    pub identity: Identity,
    /// The role granted.
    pub role: Role,
    /// Where media clients connect.
    pub ws_url: String,
}

/// Read a stream's event log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListEvents {
    /// Events after this seq (0: from the oldest the log keeps).
    pub after_seq: u64,
    /// Page size: 1 to [`ListStreams::MAX_LIMIT`], [`ListStreams::DEFAULT_LIMIT`] when absent.
    pub limit: Option<usize>,
}

/// A page of a stream's event log, oldest first.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EventPage {
    /// The events. The log keeps the newest events only: a first seq beyond `after_seq + 1`
    /// means older ones were trimmed.
    pub items: Vec<crate::event::StreamEvent>,
    /// The `after_seq` of the next page, when there is one.
    pub next_after_seq: Option<u64>,
}
