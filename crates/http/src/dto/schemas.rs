//! Schemas of the shapes the domain serializes itself (a stream, a participant, the audience
//! counters, statuses and roles), described for the OpenAPI document only: the domain crate
//! stays free of documentation machinery. The live server's answers are validated against
//! them (schemathesis in `.ci/run`), so a change of the domain's JSON that is not described
//! here fails CI.

#![allow(dead_code)] // Never built: these types only carry their schemas.

use std::collections::BTreeMap;

use utoipa::ToSchema;

/// Where a stream is in its life: `creating → active | error`, `active → stopping | stopped |
/// error`, `stopping → stopped | error`, `error → stopping | stopped`; `stopped` is final.
#[derive(ToSchema)]
#[schema(as = StreamStatus)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StreamStatusDoc {
    Creating,
    Active,
    Stopping,
    Stopped,
    Error,
}

/// What a participant may do: a `host` publishes and subscribes, a `viewer` only subscribes.
#[derive(ToSchema)]
#[schema(as = Role)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RoleDoc {
    Host,
    Viewer,
}

/// Who is in a stream now, by role, and how many ever joined.
#[derive(ToSchema)]
#[schema(as = Audience)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AudienceDoc {
    /// Participants present now.
    #[schema(minimum = 0)]
    active: u64,
    /// Present hosts.
    #[schema(minimum = 0)]
    hosts: u64,
    /// Present viewers.
    #[schema(minimum = 0)]
    viewers: u64,
    /// Present participants with a media session LiveKit reported.
    #[schema(minimum = 0)]
    connected: u64,
    /// Distinct identities that ever joined.
    #[schema(minimum = 0)]
    total_joined: u64,
}

/// A livestream: one LiveKit room, its status, metadata and audience counters.
#[derive(ToSchema)]
#[schema(as = Stream)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StreamDoc {
    /// The stream's id.
    #[schema(format = Uuid)]
    id: String,
    /// The LiveKit room.
    room_name: String,
    /// LiveKit's id of the room, once known.
    #[schema(required = false)]
    room_sid: Option<String>,
    status: StreamStatusDoc,
    /// Operator metadata (a JSON object).
    #[schema(value_type = Object)]
    metadata: serde_json::Value,
    /// Bumped by every change of the stream itself (its ETag).
    #[schema(minimum = 0)]
    version: u64,
    /// Seq of its latest event.
    #[schema(minimum = 0)]
    seq: u64,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    /// When it became active.
    #[schema(format = DateTime, nullable = true, required = true)]
    started_at: Option<String>,
    /// When it stopped.
    #[schema(format = DateTime, nullable = true, required = true)]
    stopped_at: Option<String>,
    audience: AudienceDoc,
    /// Egress LiveKit reported: id → status (absent when none).
    #[schema(required = false)]
    egress: Option<BTreeMap<String, String>>,
    /// Ingress LiveKit reported: id → status (absent when none).
    #[schema(required = false)]
    ingress: Option<BTreeMap<String, String>>,
}

/// Someone who joined a stream.
#[derive(ToSchema)]
#[schema(as = Participant)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ParticipantDoc {
    #[schema(format = Uuid)]
    id: String,
    /// The LiveKit identity (unique per stream).
    identity: String,
    role: RoleDoc,
    /// LiveKit's id of the current media session, once reported.
    #[schema(required = false)]
    sid: Option<String>,
    #[schema(format = DateTime)]
    joined_at: String,
    /// When the participant left; null while present.
    #[schema(format = DateTime, nullable = true, required = true)]
    left_at: Option<String>,
    /// Participant metadata (a JSON object).
    #[schema(value_type = Object)]
    metadata: serde_json::Value,
    /// Tracks the current session publishes (absent when none).
    #[schema(required = false)]
    tracks: Option<Vec<String>>,
    /// When LiveKit produced the newest report applied to it.
    #[schema(format = DateTime, required = false)]
    media_at: Option<String>,
}

/// A stream as the stream routes answer it: with its participants when at most 100 joined.
#[derive(ToSchema)]
#[schema(as = StreamWithParticipants)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StreamWithRosterDoc {
    #[serde(flatten)]
    stream: StreamDoc,
    /// Everyone who joined, when at most 100 did (always empty in listings).
    participants: Vec<ParticipantDoc>,
    /// True when the stream has more participants than `participants` shows.
    participants_truncated: bool,
}

/// Answer of `DELETE /streams/{id}`.
#[derive(ToSchema)]
#[schema(as = StopResponse)]
pub(crate) struct StopResponseDoc {
    /// `stream stopped`.
    message: String,
    stream: StreamWithRosterDoc,
}

/// Answer of `POST /streams/{id}/leave`.
#[derive(ToSchema)]
#[schema(as = LeaveResponse)]
pub(crate) struct LeaveResponseDoc {
    /// `participant left`.
    message: String,
    /// The stream afterwards.
    stream: StreamWithRosterDoc,
    /// The participant afterwards (`leftAt` set).
    participant: ParticipantDoc,
}

/// One refused field.
#[derive(ToSchema)]
#[schema(as = FieldError)]
pub(crate) struct FieldErrorDoc {
    field: String,
    message: String,
}

/// The error of an error envelope.
#[derive(ToSchema)]
#[schema(as = Error)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorBodyDoc {
    /// Stable machine code (branch on it).
    code: String,
    /// For people.
    message: String,
    /// The HTTP status again.
    status_code: u16,
    /// The first refused field (validation errors).
    #[schema(required = false)]
    field: Option<String>,
    /// Every refused field (validation errors).
    #[schema(required = false)]
    fields: Option<Vec<FieldErrorDoc>>,
    /// The request's id (its `X-Request-Id`).
    #[schema(required = false)]
    request_id: Option<String>,
}

/// Every error of every route: `{"error": {...}}`.
#[derive(ToSchema)]
pub(crate) struct ErrorEnvelope {
    error: ErrorBodyDoc,
}

/// What happened to a stream.
#[derive(ToSchema)]
#[schema(as = EventType)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EventTypeDoc {
    StreamCreated,
    StreamUpdated,
    StreamStopped,
    ParticipantJoined,
    ParticipantUpdated,
    ParticipantLeft,
}

/// One entry of a stream's event log, as the WebSocket `event` message carries it.
#[derive(ToSchema)]
#[schema(as = StreamEvent)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StreamEventDoc {
    /// Unique id of the event.
    id: uuid::Uuid,
    /// Its place in the stream's log: one more than the previous event's.
    #[schema(minimum = 1)]
    seq: u64,
    #[serde(rename = "type")]
    kind: EventTypeDoc,
    stream_id: uuid::Uuid,
    /// When it happened (milliseconds since the epoch).
    timestamp: i64,
    /// What changed; its shape depends on `type` (see the event reference in docs/websocket.md).
    #[schema(value_type = Object)]
    data: serde_json::Value,
    /// The instance that made the change.
    instance_id: String,
}

/// A WebSocket ticket: the key's scope, for one handshake within `expiresIn` seconds.
#[derive(ToSchema)]
#[schema(as = WebSocketTicket)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TicketDoc {
    /// Pass it as `?ticket=` on `/ws` (or `/`).
    ticket: String,
    expires_at: chrono::DateTime<chrono::Utc>,
    #[schema(minimum = 1)]
    expires_in: u64,
}

/// A stream's ingest: where an encoder publishes and with which key.
#[derive(ToSchema)]
#[schema(as = Ingest)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IngestDoc {
    /// LiveKit's ingress id.
    ingress_id: String,
    /// `rtmp`, `whip` or `url`.
    #[serde(rename = "type")]
    #[schema(example = "rtmp")]
    kind: String,
    /// Where an encoder sends its media (OBS: "Server"); a URL pull: what LiveKit pulls.
    #[schema(example = "rtmp://ingest.example.com/x")]
    url: String,
    /// The encoder's key (OBS: "Stream Key"): whole for a key that may change the stream, else
    /// `…` and its last four characters.
    stream_key: String,
    /// Whether `streamKey` is redacted.
    stream_key_redacted: bool,
    /// What LiveKit reports.
    state: IngestStateDoc,
    /// Why the encoder's media failed, in `error`.
    #[schema(nullable = false)]
    error: Option<String>,
    /// When it was created (or its key last rotated), RFC 3339 with milliseconds.
    #[schema(format = DateTime)]
    created_at: String,
    /// When it last changed.
    #[schema(format = DateTime)]
    updated_at: String,
}

/// What LiveKit reports of an ingest.
#[derive(ToSchema)]
#[schema(as = IngestState)]
#[serde(rename_all = "lowercase")]
pub(crate) enum IngestStateDoc {
    Inactive,
    Buffering,
    Publishing,
    Error,
}

/// A stream's output: HLS for players, RTMP to other platforms, or a recording.
#[derive(ToSchema)]
#[schema(as = Output)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutputDoc {
    /// Its name within the stream.
    #[schema(example = "youtube")]
    id: String,
    /// `hls`, `rtmp` or `recording`.
    #[serde(rename = "type")]
    #[schema(example = "rtmp")]
    kind: String,
    /// `rtmp`: its targets, whole for a key that may change the stream, else up to their host.
    #[schema(nullable = false)]
    targets: Option<Vec<String>>,
    /// Whether it starts when the stream goes live.
    auto_start: bool,
    /// What the operator wants: `on` or `off`.
    desired: DesiredDoc,
    /// What its egress does.
    observed: ObservedDoc,
    /// LiveKit's egress id, once started.
    #[schema(nullable = false)]
    egress_id: Option<String>,
    /// Why the last attempt failed.
    #[schema(nullable = false)]
    failure: Option<String>,
    /// Attempts of the current start (1 for the first; at most 4 before `failed`).
    #[schema(minimum = 0)]
    attempts: u32,
    /// Where players read it (`hls`).
    #[schema(nullable = false)]
    playback_url: Option<String>,
    /// Where its file or segments are.
    #[schema(nullable = false)]
    location: Option<String>,
    /// When it last changed.
    #[schema(format = DateTime)]
    updated_at: String,
}

/// What the operator wants of an output.
#[derive(ToSchema)]
#[schema(as = OutputDesired)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DesiredDoc {
    On,
    Off,
}

/// What an output's egress does: `idle` (never started, or waiting for the stream to go
/// live), `starting` (being started or retried), `active`, `ending`, `complete`, `failed`.
#[derive(ToSchema)]
#[schema(as = OutputObserved)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ObservedDoc {
    Idle,
    Starting,
    Active,
    Ending,
    Complete,
    Failed,
}
