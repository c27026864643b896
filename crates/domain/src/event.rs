//! Stream events: one per change of state, numbered per stream without gaps.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::audience::Audience;
use crate::change::ChangeContext;
use crate::participant::Participant;
use crate::values::StreamId;

/// What happened to a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// The stream was created (data: the stream).
    StreamCreated,
    /// Status or metadata changed (data: status, previousStatus, stoppedAt, and metadataPatch —
    /// the JSON merge patch applied — when the metadata changed).
    StreamUpdated,
    /// The stream reached `stopped` (data: status, previousStatus, stoppedAt, roomName).
    StreamStopped,
    /// A participant joined (data: the participant and the audience counters after it).
    ParticipantJoined,
    /// A participant's role, metadata, media session or tracks changed (data: as joined).
    ParticipantUpdated,
    /// A participant left (data: as joined).
    ParticipantLeft,
    /// The stream got an ingest (data: `ingest`, its stream key redacted).
    IngestCreated,
    /// Its ingest changed: LiveKit's state, or a new key (data: as created).
    IngestUpdated,
    /// Its ingest was deleted (data: `ingest`: null).
    IngestRemoved,
    /// An output was added (data: `output`, its targets redacted).
    OutputAdded,
    /// An output changed: wanted on or off, or what its egress does (data: as added).
    OutputUpdated,
    /// An output was removed (data: `outputId`).
    OutputRemoved,
}

impl EventType {
    /// Every type, in declaration order (metrics show each one from the start).
    pub const ALL: [EventType; 12] = [
        EventType::StreamCreated,
        EventType::StreamUpdated,
        EventType::StreamStopped,
        EventType::ParticipantJoined,
        EventType::ParticipantUpdated,
        EventType::ParticipantLeft,
        EventType::IngestCreated,
        EventType::IngestUpdated,
        EventType::IngestRemoved,
        EventType::OutputAdded,
        EventType::OutputUpdated,
        EventType::OutputRemoved,
    ];

    /// The snake_case wire name.
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
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change of state of one stream. `seq` is 1 for the stream's first event and grows by
/// exactly one per event, so a subscriber that tracks it can tell a gap from a duplicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamEvent {
    /// Unique id of the event.
    pub id: Uuid,
    /// Position in the stream's event log.
    pub seq: u64,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The stream it happened to.
    pub stream_id: StreamId,
    /// When it happened.
    #[serde(
        serialize_with = "crate::policy::time::millis",
        deserialize_with = "crate::policy::time::read"
    )]
    pub timestamp: DateTime<Utc>,
    /// Event-specific details.
    pub data: serde_json::Value,
    /// The orchestrator instance that made the change.
    pub instance_id: String,
}

impl StreamEvent {
    /// The event recording a participant change: data `{"participant": …, "audience": …}`,
    /// the counters after the change, so dashboards never have to count.
    pub fn for_participant(
        stream_id: StreamId,
        seq: u64,
        kind: EventType,
        participant: &Participant,
        audience: Audience,
        ctx: &ChangeContext,
    ) -> Self {
        Self {
            id: ctx.event_id,
            seq,
            kind,
            stream_id,
            timestamp: ctx.at,
            data: serde_json::json!({ "participant": participant, "audience": audience }),
            instance_id: ctx.instance_id.clone(),
        }
    }

    /// The event recording a broadcast change (an ingest or an output), numbered `seq`.
    pub fn for_broadcast(
        stream_id: StreamId,
        seq: u64,
        kind: EventType,
        data: serde_json::Value,
        ctx: &ChangeContext,
    ) -> Self {
        Self {
            id: ctx.event_id,
            seq,
            kind,
            stream_id,
            timestamp: ctx.at,
            data,
            instance_id: ctx.instance_id.clone(),
        }
    }

    /// Whether the event is about a participant (it carries the audience counters).
    pub fn is_participant_event(&self) -> bool {
        match self.kind {
            EventType::ParticipantJoined
            | EventType::ParticipantUpdated
            | EventType::ParticipantLeft => true,
            EventType::StreamCreated
            | EventType::StreamUpdated
            | EventType::StreamStopped
            | EventType::IngestCreated
            | EventType::IngestUpdated
            | EventType::IngestRemoved
            | EventType::OutputAdded
            | EventType::OutputUpdated
            | EventType::OutputRemoved => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::EventType;

    /// Its place in [`EventType::ALL`]: a new type fails to compile here until it is listed.
    fn listed_at(kind: EventType) -> usize {
        match kind {
            EventType::StreamCreated => 0,
            EventType::StreamUpdated => 1,
            EventType::StreamStopped => 2,
            EventType::ParticipantJoined => 3,
            EventType::ParticipantUpdated => 4,
            EventType::ParticipantLeft => 5,
            EventType::IngestCreated => 6,
            EventType::IngestUpdated => 7,
            EventType::IngestRemoved => 8,
            EventType::OutputAdded => 9,
            EventType::OutputUpdated => 10,
            EventType::OutputRemoved => 11,
        }
    }

    #[test]
    fn all_lists_every_type_once() {
        for (at, kind) in EventType::ALL.into_iter().enumerate() {
            assert_eq!(listed_at(kind), at, "{kind}");
        }
    }
}
