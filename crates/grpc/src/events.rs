//! A domain event as the proto `StreamEvent`: the original product's fields and typed
//! payloads, then ours. The domain keeps event data as JSON (its shapes are written in
//! `orchestrator_domain::change` and `orchestrator_domain::event`); it is read here, once per event, by the codec.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use orchestrator_domain::{
    audience::Audience, event::EventType, event::StreamEvent, participant::Participant,
    stream::StreamStatus, values::Metadata,
};
use serde::Deserialize;

use crate::convert::{audience, millis, optional_millis, participant, status_to_proto};
use crate::metadata;
use crate::proto::{self, stream_event::EventData};

/// The data of a stream_created, stream_updated or stream_stopped event.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreamData {
    room_name: Option<String>,
    status: Option<StreamStatus>,
    previous_status: Option<StreamStatus>,
    metadata: Option<Metadata>,
    /// stream_updated: the JSON merge patch that changed the metadata (null removes a key).
    metadata_patch: Option<serde_json::Map<String, serde_json::Value>>,
    stopped_at: Option<DateTime<Utc>>,
    #[serde(default)]
    egress: HashMap<String, String>,
    #[serde(default)]
    ingress: HashMap<String, String>,
}

/// The data of a participant event.
#[derive(Debug, Deserialize)]
struct ParticipantData {
    participant: Participant,
    audience: Option<Audience>,
}

fn event_type(kind: EventType) -> proto::StreamEventType {
    match kind {
        EventType::StreamCreated => proto::StreamEventType::StreamCreated,
        EventType::StreamUpdated => proto::StreamEventType::StreamUpdated,
        EventType::StreamStopped => proto::StreamEventType::StreamStopped,
        EventType::ParticipantJoined => proto::StreamEventType::ParticipantJoined,
        EventType::ParticipantUpdated => proto::StreamEventType::ParticipantUpdated,
        EventType::ParticipantLeft => proto::StreamEventType::ParticipantLeft,
        EventType::IngestCreated => proto::StreamEventType::IngestCreated,
        EventType::IngestUpdated => proto::StreamEventType::IngestUpdated,
        EventType::IngestRemoved => proto::StreamEventType::IngestRemoved,
        EventType::OutputAdded => proto::StreamEventType::OutputAdded,
        EventType::OutputUpdated => proto::StreamEventType::OutputUpdated,
        EventType::OutputRemoved => proto::StreamEventType::OutputRemoved,
    }
}

fn status(status: Option<StreamStatus>) -> i32 {
    status
        .map_or(proto::StreamStatus::Unknown, status_to_proto)
        .into()
}

/// `event` with its typed payload. Data that does not have its type's shape (a bug, or a
/// log written by a future version) leaves the payload out rather than failing the stream.
pub(crate) fn event(event: &StreamEvent) -> proto::StreamEvent {
    let event_data = match payload(event) {
        Ok(data) => Some(data),
        Err(err) => {
            tracing::warn!(
                stream = %event.stream_id, seq = event.seq, kind = %event.kind, error = %err,
                "event data of an unexpected shape; streamed without its payload"
            );
            None
        }
    };
    proto::StreamEvent {
        event_type: event_type(event.kind).into(),
        stream_id: event.stream_id.to_string(),
        timestamp: millis(event.timestamp),
        event_data,
        seq: event.seq,
        event_id: event.id.to_string(),
        instance_id: event.instance_id.clone(),
    }
}

fn payload(event: &StreamEvent) -> Result<EventData, serde_json::Error> {
    let stream_data = || StreamData::deserialize(&event.data);
    let participant_data = || ParticipantData::deserialize(&event.data);
    Ok(match event.kind {
        EventType::StreamCreated => EventData::StreamCreated(created(stream_data()?)),
        EventType::StreamUpdated => EventData::StreamUpdated(updated(stream_data()?)),
        EventType::StreamStopped => EventData::StreamStopped(stopped(stream_data()?)),
        EventType::ParticipantJoined => {
            let (participant, audience) = participant_payload(participant_data()?);
            EventData::ParticipantJoined(proto::ParticipantJoinedData {
                participant,
                audience,
            })
        }
        EventType::ParticipantUpdated => {
            let (participant, audience) = participant_payload(participant_data()?);
            EventData::ParticipantUpdated(proto::ParticipantUpdatedData {
                participant,
                audience,
            })
        }
        EventType::ParticipantLeft => {
            let (participant, audience) = participant_payload(participant_data()?);
            EventData::ParticipantLeft(proto::ParticipantLeftData {
                participant,
                audience,
            })
        }
        EventType::IngestCreated | EventType::IngestUpdated | EventType::IngestRemoved => {
            EventData::IngestEvent(crate::broadcast::ingest_event(&event.data)?)
        }
        EventType::OutputAdded | EventType::OutputUpdated | EventType::OutputRemoved => {
            EventData::OutputEvent(crate::broadcast::output_event(&event.data)?)
        }
    })
}

fn created(data: StreamData) -> proto::StreamCreatedData {
    let metadata = data.metadata.unwrap_or_default();
    proto::StreamCreatedData {
        room_name: data.room_name.unwrap_or_default(),
        metadata: metadata::to_string_map(&metadata),
        status: status(data.status),
        structured_metadata: Some(metadata::to_struct(&metadata)),
    }
}

/// The original's `metadata` map carries the keys the change set (events carry what changed,
/// not the whole metadata again); `metadata_patch` is the whole merge patch, removals included.
fn updated(data: StreamData) -> proto::StreamUpdatedData {
    let patch = data.metadata_patch.unwrap_or_default();
    let set: serde_json::Map<String, serde_json::Value> = patch
        .iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    proto::StreamUpdatedData {
        previous_status: status(data.previous_status),
        current_status: status(data.status),
        metadata: metadata::map_to_strings(&set),
        metadata_patch: (!patch.is_empty()).then(|| metadata::map_to_struct(&patch)),
        egress: data.egress,
        ingress: data.ingress,
    }
}

fn stopped(data: StreamData) -> proto::StreamStoppedData {
    proto::StreamStoppedData {
        room_name: data.room_name.unwrap_or_default(),
        previous_status: status(data.previous_status),
        stopped_at: optional_millis(data.stopped_at),
    }
}

fn participant_payload(
    data: ParticipantData,
) -> (Option<proto::Participant>, Option<proto::Audience>) {
    (
        Some(participant(&data.participant)),
        data.audience.map(audience),
    )
}

/// An audience update standing for the viewers' events folded up to `last`.
pub(crate) fn audience_update(
    last: &StreamEvent,
    counters: Option<&orchestrator_realtime::Audience>,
) -> proto::StreamEvent {
    proto::StreamEvent {
        event_type: proto::StreamEventType::AudienceUpdated.into(),
        stream_id: last.stream_id.to_string(),
        timestamp: millis(last.timestamp),
        event_data: Some(EventData::AudienceUpdated(proto::AudienceUpdatedData {
            audience: counters.copied().map(audience),
        })),
        seq: last.seq,
        event_id: String::new(),
        instance_id: String::new(),
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
