//! A stream's events, as the event log and the WebSocket deliver them.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What happened to a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// Created (data: `roomName`, `status`, `metadata`).
    StreamCreated,
    /// Status or metadata changed (data: `status`, `previousStatus`, `stoppedAt`,
    /// `metadataPatch`?).
    StreamUpdated,
    /// Stopped: the last event of a stream.
    StreamStopped,
    /// Joined (data: `participant`, `audience`).
    ParticipantJoined,
    /// A present participant changed (data: as joined).
    ParticipantUpdated,
    /// Left (data: as joined).
    ParticipantLeft,
    /// Got an ingest (data: `ingest`, its key redacted).
    IngestCreated,
    /// Its ingest changed.
    IngestUpdated,
    /// Its ingest was removed.
    IngestRemoved,
    /// Got an output (data: `output`, targets redacted).
    OutputAdded,
    /// An output changed.
    OutputUpdated,
    /// An output was removed (data: `outputId`).
    OutputRemoved,
    /// A type this client does not know (a newer service).
    #[serde(other)]
    Unknown,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::StreamCreated => "stream_created",
            EventType::StreamUpdated => "stream_updated",
            EventType::StreamStopped => "stream_stopped",
            EventType::ParticipantJoined => "participant_joined",
            EventType::ParticipantUpdated => "participant_updated",
            EventType::ParticipantLeft => "participant_left",
            EventType::IngestCreated => "ingest_created",
            EventType::IngestUpdated => "ingest_updated",
            EventType::IngestRemoved => "ingest_removed",
            EventType::OutputAdded => "output_added",
            EventType::OutputUpdated => "output_updated",
            EventType::OutputRemoved => "output_removed",
            EventType::Unknown => "unknown",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One change of a stream. `seq` is 1 for a stream's first event and grows by one per event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Unique id of the event.
    pub id: String,
    /// Position in the stream's event log.
    pub seq: u64,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The stream it happened to.
    pub stream_id: String,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub timestamp: DateTime<Utc>,
    /// The details, by type (see [`EventType`]).
    #[serde(default)]
    pub data: serde_json::Value,
    /// The instance that made the change.
    #[serde(default)]
    pub instance_id: String,
}
