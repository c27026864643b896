//! Domain ↔ proto values. Requests become the same domain requests REST builds; JSON objects
//! travel as JSON text, timestamps as RFC 3339 (empty when absent).

use chrono::{DateTime, SecondsFormat, Utc};
use domain::ports::ParticipantPage;
use domain::{
    Audience, CreateStream, Cursor, EventType, ExpectedVersion, Identity, JoinStream, JoinTicket,
    ListParticipants, ListStreams, Metadata, Participant, Role, RoomName, Stream, StreamError,
    StreamEvent, StreamId, StreamService, StreamStatus, StreamView, UpdateStream, ValidationError,
};

use crate::proto;

/// An id from a request: empty is invalid, anything else that is not a stream is unknown
/// (as in REST, where a malformed id is a 404).
pub(crate) fn stream_id(raw: &str) -> Result<StreamId, StreamError> {
    if raw.trim().is_empty() {
        return Err(ValidationError::new("stream_id", "is required").into());
    }
    StreamService::parse_id(raw)
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn optional_time(at: Option<DateTime<Utc>>) -> String {
    at.map(time).unwrap_or_default()
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Metadata from a JSON text field; empty means none.
fn metadata(raw: &str) -> Result<Option<Metadata>, ValidationError> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    let value = serde_json::from_str(raw)
        .map_err(|err| ValidationError::new("metadata", format!("is not JSON: {err}")))?;
    Metadata::from_value("metadata", value).map(Some)
}

fn status_to_proto(status: StreamStatus) -> proto::StreamStatus {
    match status {
        StreamStatus::Creating => proto::StreamStatus::Creating,
        StreamStatus::Active => proto::StreamStatus::Active,
        StreamStatus::Stopping => proto::StreamStatus::Stopping,
        StreamStatus::Stopped => proto::StreamStatus::Stopped,
        StreamStatus::Error => proto::StreamStatus::Error,
    }
}

/// `None` for UNSPECIFIED (and for values this version does not know).
fn status_from_proto(raw: i32) -> Option<StreamStatus> {
    match proto::StreamStatus::try_from(raw).ok()? {
        proto::StreamStatus::Unspecified => None,
        proto::StreamStatus::Creating => Some(StreamStatus::Creating),
        proto::StreamStatus::Active => Some(StreamStatus::Active),
        proto::StreamStatus::Stopping => Some(StreamStatus::Stopping),
        proto::StreamStatus::Stopped => Some(StreamStatus::Stopped),
        proto::StreamStatus::Error => Some(StreamStatus::Error),
    }
}

fn role_to_proto(role: Role) -> proto::ParticipantRole {
    match role {
        Role::Host => proto::ParticipantRole::Host,
        Role::Viewer => proto::ParticipantRole::Viewer,
    }
}

fn role_from_proto(raw: i32) -> Result<Role, ValidationError> {
    match proto::ParticipantRole::try_from(raw) {
        Ok(proto::ParticipantRole::Host) => Ok(Role::Host),
        Ok(proto::ParticipantRole::Viewer | proto::ParticipantRole::Unspecified) => {
            Ok(Role::Viewer)
        }
        Err(_) => Err(ValidationError::new("role", "must be HOST or VIEWER")),
    }
}

fn event_type(kind: EventType) -> proto::StreamEventType {
    match kind {
        EventType::StreamCreated => proto::StreamEventType::StreamCreated,
        EventType::StreamUpdated => proto::StreamEventType::StreamUpdated,
        EventType::StreamStopped => proto::StreamEventType::StreamStopped,
        EventType::ParticipantJoined => proto::StreamEventType::ParticipantJoined,
        EventType::ParticipantUpdated => proto::StreamEventType::ParticipantUpdated,
        EventType::ParticipantLeft => proto::StreamEventType::ParticipantLeft,
    }
}

pub(crate) fn event(event: &StreamEvent) -> proto::StreamEvent {
    proto::StreamEvent {
        stream_id: event.stream_id.to_string(),
        r#type: event_type(event.kind).into(),
        timestamp: time(event.timestamp),
        data: json(&event.data),
        seq: event.seq,
        id: event.id.to_string(),
        instance_id: event.instance_id.clone(),
    }
}

/// An audience update standing for the viewers' events folded up to `last`.
pub(crate) fn audience_update(
    last: &StreamEvent,
    audience: Option<&realtime::Audience>,
) -> proto::StreamEvent {
    proto::StreamEvent {
        stream_id: last.stream_id.to_string(),
        r#type: proto::StreamEventType::AudienceUpdated.into(),
        timestamp: time(last.timestamp),
        data: json(&serde_json::json!({ "audience": audience })),
        seq: last.seq,
        id: String::new(),
        instance_id: String::new(),
    }
}

/// The audience interval of a Subscribe; absent means none.
pub(crate) fn audience_interval(
    raw: Option<u32>,
) -> Result<Option<realtime::AudienceInterval>, StreamError> {
    raw.map(|millis| realtime::AudienceInterval::from_millis(millis.into()))
        .transpose()
        .map_err(|err| ValidationError::new("audience_interval_ms", err.to_string()).into())
}

fn participant(p: &Participant) -> proto::Participant {
    proto::Participant {
        id: p.id.to_string(),
        identity: p.identity.as_str().to_owned(),
        joined_at: time(p.joined_at),
        left_at: optional_time(p.left_at),
        role: role_to_proto(p.role).into(),
        metadata: json(&p.metadata),
        sid: p.sid.clone().unwrap_or_default(),
    }
}

fn audience(audience: Audience) -> proto::Audience {
    proto::Audience {
        active: audience.active,
        hosts: audience.hosts,
        viewers: audience.viewers,
        total_joined: audience.total_joined,
        connected: audience.connected,
    }
}

/// A stream with its inline participants (GetStream).
pub(crate) fn stream_view(view: &StreamView) -> proto::Stream {
    proto::Stream {
        participants: view.participants.iter().map(participant).collect(),
        participants_truncated: view.truncated,
        ..stream(&view.stream)
    }
}

/// A page of participants.
pub(crate) fn participants(page: &ParticipantPage) -> proto::ListParticipantsResponse {
    proto::ListParticipantsResponse {
        participants: page.items.iter().map(participant).collect(),
        next_cursor: page
            .next
            .as_ref()
            .map(|cursor| cursor.as_str().to_owned())
            .unwrap_or_default(),
    }
}

pub(crate) fn list_participants(request: &proto::ListParticipantsRequest) -> ListParticipants {
    ListParticipants {
        active_only: request.active_only,
        limit: (request.limit > 0).then_some(request.limit as usize),
        cursor: Some(request.cursor.clone())
            .filter(|cursor| !cursor.is_empty())
            .map(Cursor::new),
    }
}

pub(crate) fn stream(stream: &Stream) -> proto::Stream {
    proto::Stream {
        id: stream.id.to_string(),
        room_name: stream.room_name.as_str().to_owned(),
        room_sid: stream.room_sid.clone().unwrap_or_default(),
        status: status_to_proto(stream.status).into(),
        metadata: json(&stream.metadata),
        version: stream.version,
        seq: stream.seq,
        created_at: time(stream.created_at),
        updated_at: time(stream.updated_at),
        started_at: optional_time(stream.started_at),
        stopped_at: optional_time(stream.stopped_at),
        participants: Vec::new(),
        audience: Some(audience(stream.audience)),
        participants_truncated: false,
    }
}

pub(crate) fn state(view: &StreamView, epoch: String) -> proto::StreamState {
    let stream = &view.stream;
    proto::StreamState {
        stream_id: stream.id.to_string(),
        status: status_to_proto(stream.status).into(),
        participants: view.participants.iter().map(participant).collect(),
        participants_truncated: view.truncated,
        audience: Some(audience(stream.audience)),
        active_participants: u32::try_from(stream.audience.active).unwrap_or(u32::MAX),
        started_at: optional_time(stream.started_at),
        updated_at: time(stream.updated_at),
        stopped_at: optional_time(stream.stopped_at),
        metadata: json(&stream.metadata),
        seq: stream.seq,
        version: stream.version,
        epoch,
    }
}

pub(crate) fn ticket(ticket: JoinTicket) -> proto::JoinStreamResponse {
    proto::JoinStreamResponse {
        token: ticket.token,
        ws_url: ticket.ws_url,
        stream_id: ticket.stream_id.to_string(),
        identity: ticket.identity.as_str().to_owned(),
        role: role_to_proto(ticket.role).into(),
    }
}

pub(crate) fn create(request: proto::CreateStreamRequest) -> Result<CreateStream, StreamError> {
    let room_name = Some(request.room_name)
        .filter(|name| !name.is_empty())
        .map(RoomName::new)
        .transpose()?;
    Ok(CreateStream {
        room_name,
        metadata: metadata(&request.metadata)?.unwrap_or_default(),
    })
}

pub(crate) fn list(request: proto::ListStreamsRequest) -> ListStreams {
    ListStreams {
        status: status_from_proto(request.status),
        limit: (request.limit > 0).then_some(request.limit as usize),
        cursor: Some(request.cursor)
            .filter(|cursor| !cursor.is_empty())
            .map(Cursor::new),
    }
}

pub(crate) fn update(request: proto::UpdateStreamRequest) -> Result<UpdateStream, StreamError> {
    Ok(UpdateStream {
        status: status_from_proto(request.status),
        metadata: metadata(&request.metadata)?,
        expected: request.version.map(ExpectedVersion::Body),
    })
}

pub(crate) fn join(request: proto::JoinStreamRequest) -> Result<JoinStream, StreamError> {
    Ok(JoinStream {
        identity: Identity::new(request.identity)?,
        role: role_from_proto(request.role)?,
        metadata: metadata(&request.metadata)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audience_update_is_an_audience_updated_event_naming_its_seq_and_the_counts() {
        let last: StreamEvent = serde_json::from_value(serde_json::json!({
            "id": "6f1c1d36-0a55-4b3e-9d8b-7d9f3c2b1a00",
            "seq": 42,
            "type": "participant_left",
            "streamId": "0b5a3c9e-58f4-4a84-9f3e-2f1d6c7b8a90",
            "timestamp": "2024-05-01T12:00:00Z",
            "data": {"participant": {"identity": "v", "role": "viewer"}},
            "instanceId": "test",
        }))
        .unwrap();
        let audience = realtime::Audience {
            active: 3,
            hosts: 1,
            viewers: 2,
            connected: 2,
            total_joined: 5,
        };

        let update = audience_update(&last, Some(&audience));

        assert_eq!(update.r#type(), proto::StreamEventType::AudienceUpdated);
        assert_eq!(
            (
                update.seq,
                update.stream_id.as_str(),
                update.timestamp.as_str()
            ),
            (
                42,
                "0b5a3c9e-58f4-4a84-9f3e-2f1d6c7b8a90",
                "2024-05-01T12:00:00.000Z"
            )
        );
        assert!(update.id.is_empty() && update.instance_id.is_empty());
        let data: serde_json::Value = serde_json::from_str(&update.data).unwrap();
        assert_eq!(
            data,
            serde_json::json!({
                "audience": {"active": 3, "hosts": 1, "viewers": 2, "connected": 2, "totalJoined": 5}
            })
        );
    }

    #[test]
    fn an_audience_interval_is_optional_and_checked() {
        assert_eq!(audience_interval(None), Ok(None));
        assert_eq!(
            audience_interval(Some(250)).map(|i| i.map(realtime::AudienceInterval::as_millis)),
            Ok(Some(250))
        );
        assert!(matches!(
            audience_interval(Some(10)),
            Err(StreamError::Invalid(_))
        ));
    }
}
