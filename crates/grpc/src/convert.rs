//! Domain ↔ proto values of the unary RPCs, and the pieces events share with them
//! (participant, audience, status, timestamps). Requests become the same domain requests REST
//! builds; timestamps are unix milliseconds (0 when absent), metadata a `Struct`.

use chrono::{DateTime, Utc};
use orchestrator_domain::ports::ParticipantPage;
use orchestrator_domain::{
    audience::Audience, change::ExpectedVersion, error::StreamError, participant::Participant,
    participant::Role, service::commands::CreateStream, service::commands::JoinStream,
    service::commands::JoinTicket, service::commands::ListParticipants,
    service::commands::ListStreams, service::commands::StreamView, service::commands::UpdateStream,
    service::StreamService, stream::Stream, stream::StreamStatus, values::Cursor, values::Identity,
    values::RoomName, values::StreamId, values::ValidationError,
};

use crate::metadata;
use crate::proto;

/// An id from a request: empty is invalid, anything else that is not a stream is unknown
/// (as in REST, where a malformed id is a 404).
pub(crate) fn stream_id(raw: &str) -> Result<StreamId, StreamError> {
    if raw.trim().is_empty() {
        return Err(ValidationError::new("stream_id", "is required").into());
    }
    StreamService::parse_id(raw)
}

/// Unix milliseconds.
pub(crate) fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// Unix milliseconds, 0 when absent.
pub(crate) fn optional_millis(at: Option<DateTime<Utc>>) -> i64 {
    at.map(millis).unwrap_or_default()
}

pub(crate) fn status_to_proto(status: StreamStatus) -> proto::StreamStatus {
    match status {
        StreamStatus::Creating => proto::StreamStatus::Creating,
        StreamStatus::Active => proto::StreamStatus::Active,
        StreamStatus::Stopping => proto::StreamStatus::Stopping,
        StreamStatus::Stopped => proto::StreamStatus::Stopped,
        StreamStatus::Error => proto::StreamStatus::Error,
    }
}

/// `None` for UNKNOWN (and for values this version does not know).
fn status_from_proto(raw: i32) -> Option<StreamStatus> {
    match proto::StreamStatus::try_from(raw).ok()? {
        proto::StreamStatus::Unknown => None,
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

/// A participant, in events and in answers alike (the original's fields, then ours).
pub(crate) fn participant(p: &Participant) -> proto::Participant {
    proto::Participant {
        id: p.id.to_string(),
        identity: p.identity.as_str().to_owned(),
        joined_at: millis(p.joined_at),
        left_at: optional_millis(p.left_at),
        metadata: metadata::to_string_map(&p.metadata),
        role: role_to_proto(p.role).into(),
        sid: p.sid.clone().unwrap_or_default(),
        tracks: p.tracks.clone(),
        structured_metadata: Some(metadata::to_struct(&p.metadata)),
        media_at: optional_millis(p.media_at),
    }
}

pub(crate) fn audience(audience: Audience) -> proto::Audience {
    proto::Audience {
        active: audience.active,
        hosts: audience.hosts,
        viewers: audience.viewers,
        total_joined: audience.total_joined,
        connected: audience.connected,
    }
}

/// A stream with its inline participants (GetStream and the mutations that answer a stream).
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
        version: stream.version,
        seq: stream.seq,
        participants: Vec::new(),
        audience: Some(audience(stream.audience)),
        participants_truncated: false,
        metadata: Some(metadata::to_struct(&stream.metadata)),
        created_at: millis(stream.created_at),
        updated_at: millis(stream.updated_at),
        started_at: optional_millis(stream.started_at),
        stopped_at: optional_millis(stream.stopped_at),
    }
}

pub(crate) fn state(view: &StreamView, epoch: String) -> proto::StreamState {
    let stream = &view.stream;
    proto::StreamState {
        stream_id: stream.id.to_string(),
        status: status_to_proto(stream.status).into(),
        participants: view.participants.iter().map(participant).collect(),
        active_participants: u32::try_from(stream.audience.active).unwrap_or(u32::MAX),
        seq: stream.seq,
        version: stream.version,
        epoch,
        audience: Some(audience(stream.audience)),
        participants_truncated: view.truncated,
        started_at: optional_millis(stream.started_at),
        updated_at: millis(stream.updated_at),
        stopped_at: optional_millis(stream.stopped_at),
        metadata: Some(metadata::to_struct(&stream.metadata)),
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
        metadata: metadata::from_struct("metadata", request.metadata)?.unwrap_or_default(),
        outputs: request
            .outputs
            .into_iter()
            .map(crate::broadcast::output_spec)
            .collect::<Result<_, _>>()?,
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
        metadata: metadata::from_struct("metadata", request.metadata)?,
        expected: request.version.map(ExpectedVersion::Body),
    })
}

pub(crate) fn join(request: proto::JoinStreamRequest) -> Result<JoinStream, StreamError> {
    Ok(JoinStream {
        identity: Identity::new(request.identity)?,
        role: role_from_proto(request.role)?,
        metadata: metadata::from_struct("metadata", request.metadata)?,
    })
}
