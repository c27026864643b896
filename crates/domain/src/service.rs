//! [`StreamService`]: one method per operation, shared by every transport, and [`StreamError`],
//! the one error they all map.
//!
//! Each method takes validated domain values (transports convert raw input with the
//! constructors in [`crate::values`]), calls the ports, and reports failures as [`StreamError`].
//! LiveKit side effects run before the state change they justify wherever possible, so a LiveKit
//! outage answers 503 and changes nothing.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::change::{Applied, Change, ChangeContext, ExpectedVersion, TransitionError};
use crate::event::StreamEvent;
use crate::membership::{ParticipantApplied, ParticipantChange};
use crate::participant::{Participant, Role};
use crate::ports::{
    ApplyError, Clock, IdGenerator, InsertError, JoinGrant, ListError, ListQuery, MediaError,
    MediaParticipant, MediaServer, Page, ParticipantPage, ParticipantQuery, StoreError,
    StreamRepository, TokenError, TokenIssuer,
};
use crate::stream::{Stream, StreamStatus};
use crate::values::{Cursor, Identity, Metadata, RoomName, StreamId, ValidationError};

/// Everything that can go wrong in an operation. Each transport maps it with one exhaustive
/// `match` (HTTP status in the http crate, gRPC code in the grpc crate).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StreamError {
    /// A request field is invalid (400).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// No stream has this id (404).
    #[error("stream \"{0}\" does not exist")]
    NotFound(String),
    /// No participant with this identity joined the stream (404).
    #[error("participant \"{0}\" is not in this stream")]
    ParticipantNotFound(Identity),
    /// A stream that is not stopped already uses the room name (409).
    #[error("room name \"{0}\" is already used by a stream that is not stopped")]
    RoomNameTaken(RoomName),
    /// The status machine refuses the move (409).
    #[error("a {from} stream cannot become {to}")]
    InvalidTransition {
        /// Current status.
        from: StreamStatus,
        /// Requested status.
        to: StreamStatus,
    },
    /// The operation needs an active stream (409).
    #[error("the stream is {0}, not active")]
    NotActive(StreamStatus),
    /// The body's `version` is stale (409).
    #[error("version {expected} is stale: the stream is at version {current}")]
    VersionConflict {
        /// Expected version.
        expected: u64,
        /// Current version.
        current: u64,
    },
    /// The `If-Match` ETag is stale (412).
    #[error("If-Match asks for version {expected}, but the stream is at version {current}")]
    PreconditionFailed {
        /// Expected version.
        expected: u64,
        /// Current version.
        current: u64,
    },
    /// LiveKit is unreachable or failing (503).
    #[error("LiveKit is unavailable: {0}")]
    MediaUnavailable(String),
    /// LiveKit refused our request (502).
    #[error("LiveKit refused the request: {0}")]
    MediaRejected(String),
    /// The store is unreachable (503).
    #[error("the store is unavailable: {0}")]
    StoreUnavailable(String),
    /// A bug or misconfiguration on our side (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<TransitionError> for StreamError {
    fn from(err: TransitionError) -> Self {
        match err {
            TransitionError::InvalidTransition { from, to } => {
                StreamError::InvalidTransition { from, to }
            }
            TransitionError::NotActive(status) => StreamError::NotActive(status),
            TransitionError::VersionConflict { expected, current } => {
                StreamError::VersionConflict { expected, current }
            }
            TransitionError::PreconditionFailed { expected, current } => {
                StreamError::PreconditionFailed { expected, current }
            }
            TransitionError::ParticipantNotFound(identity) => {
                StreamError::ParticipantNotFound(identity)
            }
            TransitionError::Invalid(err) => StreamError::Invalid(err),
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

/// Create a stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateStream {
    /// Room to use; `room-<id>` when absent.
    pub room_name: Option<RoomName>,
    /// Initial metadata.
    pub metadata: Metadata,
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
pub struct StreamView {
    /// The stream, with its audience counters.
    pub stream: Stream,
    /// Everyone who ever joined, in order of first join, when at most
    /// [`StreamView::INLINE_PARTICIPANTS`] did; empty otherwise (page through
    /// [`StreamService::participants`]).
    pub participants: Vec<Participant>,
    /// True when the stream has more participants than are shown inline.
    pub truncated: bool,
}

impl StreamView {
    /// Most participants shown inline with a stream.
    pub const INLINE_PARTICIPANTS: usize = 100;
}

/// What leaving did.
#[derive(Debug, Clone, PartialEq)]
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

/// A verified LiveKit webhook, reduced to what the domain uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaEvent {
    /// Room name.
    pub room: String,
    /// LiveKit's room id (empty when the report does not carry it).
    pub room_sid: String,
    /// When LiveKit produced the report (`createdAt`), if it says.
    pub reported_at: Option<DateTime<Utc>>,
    /// What happened.
    pub kind: MediaEventKind,
}

/// What a [`MediaEvent`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEventKind {
    /// `room_started`.
    RoomStarted,
    /// `room_finished`.
    RoomFinished,
    /// `participant_joined`.
    ParticipantJoined {
        /// The participant's identity.
        identity: String,
        /// LiveKit's session id.
        sid: String,
        /// Whether the session may publish.
        can_publish: bool,
    },
    /// `participant_left` or `participant_connection_aborted`.
    ParticipantLeft {
        /// The participant's identity.
        identity: String,
        /// LiveKit's session id.
        sid: String,
    },
    /// `track_published` / `track_unpublished`.
    Track {
        /// The publisher's identity.
        identity: String,
        /// The publisher's session id.
        sid: String,
        /// LiveKit's track id.
        track_sid: String,
        /// Published (true) or unpublished (false).
        published: bool,
    },
    /// `egress_started` / `egress_updated` / `egress_ended`.
    Egress {
        /// LiveKit's egress id.
        egress_id: String,
        /// Its status.
        status: String,
    },
    /// `ingress_started` / `ingress_ended`.
    Ingress {
        /// LiveKit's ingress id.
        ingress_id: String,
        /// Its status.
        status: String,
    },
}

/// What a [`MediaEvent`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEventOutcome {
    /// It changed a stream; here is the event.
    Applied(StreamEvent),
    /// It matched a stream but changed nothing (already known, or stale).
    NoChange,
    /// No live stream uses the room (or the room is an older one of the same name).
    UnknownRoom,
}

/// The ports a [`StreamService`] runs on.
#[derive(Clone)]
#[allow(missing_debug_implementations)]
pub struct Ports {
    /// Streams and their event logs.
    pub streams: Arc<dyn StreamRepository>,
    /// LiveKit's RoomService.
    pub media: Arc<dyn MediaServer>,
    /// Join-token signer.
    pub tokens: Arc<dyn TokenIssuer>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Id source.
    pub ids: Arc<dyn IdGenerator>,
}

/// The use cases of the orchestrator. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct StreamService {
    ports: Ports,
    instance_id: Arc<str>,
}

impl std::fmt::Debug for StreamService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamService")
            .field("instance_id", &self.instance_id)
            .finish_non_exhaustive()
    }
}

impl StreamService {
    /// A service on `ports`, recording `instance_id` in the events it produces.
    pub fn new(ports: Ports, instance_id: impl Into<Arc<str>>) -> Self {
        Self {
            ports,
            instance_id: instance_id.into(),
        }
    }

    /// Parses a stream id from a path; an id that cannot exist is simply not found.
    ///
    /// # Errors
    /// [`StreamError::NotFound`] when `raw` is not a UUID.
    pub fn parse_id(raw: &str) -> Result<StreamId, StreamError> {
        StreamId::parse(raw).map_err(|_| StreamError::NotFound(crate::values::excerpt(raw)))
    }

    /// Creates a stream: reserves nothing until LiveKit has the room, then stores the stream
    /// (active) with its `stream_created` event.
    ///
    /// # Errors
    /// `RoomNameTaken`, `MediaUnavailable`, `MediaRejected`, `StoreUnavailable`, `Internal`.
    pub async fn create(&self, request: CreateStream) -> Result<Stream, StreamError> {
        let id = StreamId::from_uuid(self.ports.ids.new_id());
        let room = request
            .room_name
            .unwrap_or_else(|| RoomName::for_stream(&id));
        // Checked before calling LiveKit so a taken name costs no LiveKit call; the insert below
        // checks again atomically.
        if self.ports.streams.find_live_by_room(&room).await?.is_some() {
            return Err(StreamError::RoomNameTaken(room));
        }
        let media_room = self.ports.media.create_room(&room).await?;
        let ctx = self.context();
        let mut stream =
            Stream::new_active(id, room, Some(media_room.sid), request.metadata, ctx.at);
        let event = stream.record_creation(&ctx);
        match self.ports.streams.insert(stream.clone(), event).await {
            Ok(()) => Ok(stream),
            Err(InsertError::RoomNameTaken(room)) => Err(StreamError::RoomNameTaken(room)),
            Err(InsertError::DuplicateId(id)) => Err(StreamError::Internal(format!(
                "stream id {id} generated twice"
            ))),
            Err(InsertError::Store(err)) => Err(err.into()),
        }
    }

    /// A page of streams, oldest first.
    ///
    /// # Errors
    /// `Invalid` (limit out of range, unknown cursor), `StoreUnavailable`, `Internal`.
    pub async fn list(&self, request: ListStreams) -> Result<Page, StreamError> {
        let query = ListQuery {
            status: request.status,
            after: request.cursor,
            limit: page_limit(request.limit)?,
        };
        self.ports.streams.list(query).await.map_err(list_error)
    }

    /// The stream with this id.
    ///
    /// # Errors
    /// `NotFound`, `StoreUnavailable`, `Internal`.
    pub async fn get(&self, id: StreamId) -> Result<Stream, StreamError> {
        self.ports
            .streams
            .get(id)
            .await?
            .ok_or_else(|| StreamError::NotFound(id.to_string()))
    }

    /// The stream with its participants inline when it has at most
    /// [`StreamView::INLINE_PARTICIPANTS`] (see [`StreamService::with_participants`]), its
    /// counters otherwise.
    ///
    /// # Errors
    /// `NotFound`, `StoreUnavailable`, `Internal`.
    pub async fn view(&self, id: StreamId) -> Result<StreamView, StreamError> {
        let stream = self.get(id).await?;
        self.with_participants(stream).await
    }

    /// `stream` with its participants inline when it has at most
    /// [`StreamView::INLINE_PARTICIPANTS`] (one store read then, none otherwise).
    ///
    /// # Errors
    /// `StoreUnavailable`, `Internal`.
    pub async fn with_participants(&self, stream: Stream) -> Result<StreamView, StreamError> {
        let total = usize::try_from(stream.audience.total_joined).unwrap_or(usize::MAX);
        if total == 0 || total > StreamView::INLINE_PARTICIPANTS {
            return Ok(StreamView {
                truncated: total > 0,
                participants: Vec::new(),
                stream,
            });
        }
        let query = ParticipantQuery {
            active_only: false,
            after: None,
            limit: StreamView::INLINE_PARTICIPANTS,
        };
        let page = self.participant_page(&stream, query).await?;
        Ok(StreamView {
            truncated: page.next.is_some(),
            participants: page.items,
            stream,
        })
    }

    /// A page of the stream's participants in order of first join, optionally only those
    /// present now.
    ///
    /// # Errors
    /// `NotFound`, `Invalid` (limit out of range, unknown cursor), `StoreUnavailable`,
    /// `Internal`.
    pub async fn participants(
        &self,
        id: StreamId,
        request: ListParticipants,
    ) -> Result<ParticipantPage, StreamError> {
        let limit = page_limit(request.limit)?;
        let stream = self.get(id).await?;
        if request.active_only && stream.is_stopped() {
            return Ok(ParticipantPage {
                items: Vec::new(),
                next: None,
            });
        }
        let query = ParticipantQuery {
            active_only: request.active_only,
            after: request.cursor,
            limit,
        };
        self.participant_page(&stream, query).await
    }

    async fn participant_page(
        &self,
        stream: &Stream,
        query: ParticipantQuery,
    ) -> Result<ParticipantPage, StreamError> {
        let page = self
            .ports
            .streams
            .participants(stream.id, query)
            .await
            .map_err(list_error)?;
        Ok(ParticipantPage {
            items: page.items.into_iter().map(|p| p.as_of(stream)).collect(),
            next: page.next,
        })
    }

    /// Changes status and/or metadata. A target of `stopping` or `stopped` applies the rest of
    /// the request, then runs [`StreamService::stop`].
    ///
    /// # Errors
    /// `NotFound`, `InvalidTransition`, `VersionConflict`, `PreconditionFailed`, plus those of
    /// `stop` when stopping.
    pub async fn update(&self, id: StreamId, request: UpdateStream) -> Result<Stream, StreamError> {
        match request.status {
            Some(StreamStatus::Stopping | StreamStatus::Stopped) => {
                let current = self.get(id).await?;
                if !current.is_stopped() && !current.status.can_become(StreamStatus::Stopping) {
                    return Err(StreamError::InvalidTransition {
                        from: current.status,
                        to: StreamStatus::Stopped,
                    });
                }
                self.apply(
                    id,
                    Change::Update {
                        status: None,
                        metadata: request.metadata,
                        expected: request.expected,
                    },
                )
                .await?;
                self.stop(id).await
            }
            Some(StreamStatus::Creating | StreamStatus::Active | StreamStatus::Error) | None => {
                let applied = self
                    .apply(
                        id,
                        Change::Update {
                            status: request.status,
                            metadata: request.metadata,
                            expected: request.expected,
                        },
                    )
                    .await?;
                Ok(applied.stream)
            }
        }
    }

    /// Stops a stream: `stopping`, the LiveKit room deleted, `stopped`. Stopping a stopped
    /// stream returns it unchanged with no new event; a stop interrupted by a LiveKit outage
    /// resumes where it was when called again.
    ///
    /// # Errors
    /// `NotFound`, `InvalidTransition` (a `creating` stream), `MediaUnavailable`,
    /// `MediaRejected`, `StoreUnavailable`, `Internal`.
    pub async fn stop(&self, id: StreamId) -> Result<Stream, StreamError> {
        let begun = self.apply(id, Change::BeginStop).await?;
        if begun.stream.is_stopped() {
            return Ok(begun.stream);
        }
        match self.ports.media.delete_room(&begun.stream.room_name).await {
            Ok(()) | Err(MediaError::NotFound(_)) => {}
            Err(err) => return Err(err.into()),
        }
        Ok(self.apply(id, Change::FinishStop).await?.stream)
    }

    /// Lets a participant in: a token with the role's grants. Joining again while present
    /// returns a fresh token and records nothing new (unless the role or metadata changed).
    ///
    /// # Errors
    /// `NotFound`, `NotActive`, `StoreUnavailable`, `Internal`.
    pub async fn join(&self, id: StreamId, request: JoinStream) -> Result<JoinTicket, StreamError> {
        let stream = self.get(id).await?;
        if stream.status != StreamStatus::Active {
            return Err(StreamError::NotActive(stream.status));
        }
        // Signed before the state changes, so a signing failure changes nothing.
        let token = self.ports.tokens.issue(&JoinGrant {
            room: stream.room_name.clone(),
            identity: request.identity.clone(),
            role: request.role,
            metadata: request.metadata.clone(),
        })?;
        self.apply_participant(
            id,
            ParticipantChange::Join {
                participant_id: self.ports.ids.new_id(),
                identity: request.identity.clone(),
                role: request.role,
                metadata: request.metadata,
            },
        )
        .await?;
        Ok(JoinTicket {
            token,
            stream_id: id,
            identity: request.identity,
            role: request.role,
            ws_url: self.ports.tokens.ws_url(),
        })
    }

    /// Lets a participant out and disconnects their media session. Leaving twice succeeds
    /// twice and records one leave.
    ///
    /// # Errors
    /// `NotFound`, `ParticipantNotFound`, `MediaUnavailable`, `MediaRejected`,
    /// `StoreUnavailable`, `Internal`.
    pub async fn leave(&self, id: StreamId, identity: Identity) -> Result<Departure, StreamError> {
        let stream = self.get(id).await?;
        let participant = self
            .ports
            .streams
            .participant(id, &identity)
            .await?
            .ok_or_else(|| StreamError::ParticipantNotFound(identity.clone()))?;
        if participant.is_active() && !stream.is_stopped() {
            match self
                .ports
                .media
                .remove_participant(&stream.room_name, &identity)
                .await
            {
                Ok(()) | Err(MediaError::NotFound(_)) => {}
                Err(err) => return Err(err.into()),
            }
        }
        let applied = self
            .apply_participant(id, ParticipantChange::Leave { identity })
            .await?;
        let mut stream = stream;
        stream.audience = applied.audience;
        if let Some(event) = &applied.event {
            stream.seq = stream.seq.max(event.seq);
        }
        let participant = applied.participant.unwrap_or(participant).as_of(&stream);
        Ok(Departure {
            stream,
            participant,
        })
    }

    /// Applies a verified LiveKit webhook to the live stream using its room. Events for rooms
    /// we do not manage, and stale events, change nothing.
    ///
    /// # Errors
    /// `StoreUnavailable`, `Internal` (LiveKit should retry later).
    pub async fn apply_media_event(
        &self,
        event: MediaEvent,
    ) -> Result<MediaEventOutcome, StreamError> {
        let Ok(room) = RoomName::new(event.room.as_str()) else {
            return Ok(MediaEventOutcome::UnknownRoom);
        };
        let Some(stream) = self.ports.streams.find_live_by_room(&room).await? else {
            return Ok(MediaEventOutcome::UnknownRoom);
        };
        if let Some(ours) = &stream.room_sid {
            if !event.room_sid.is_empty() && *ours != event.room_sid {
                return Ok(MediaEventOutcome::UnknownRoom);
            }
        }
        // A signed report from the future (a skewed or forged clock) must not make genuine
        // later reports look stale: it counts as made now.
        let now = self.ports.clock.now();
        let reported_at = event.reported_at.map(|at| at.min(now));
        let outcome = match self.media_change(event.kind, reported_at) {
            None => return Ok(MediaEventOutcome::NoChange),
            Some(MediaChange::Stream(change)) => self
                .ports
                .streams
                .apply(stream.id, change, self.context())
                .await
                .map(|applied| applied.event),
            Some(MediaChange::Participant(change)) => self
                .ports
                .streams
                .apply_participant(stream.id, change, self.context())
                .await
                .map(|applied| applied.event),
        };
        match outcome {
            Ok(Some(event)) => Ok(MediaEventOutcome::Applied(event)),
            Ok(None) | Err(ApplyError::Rejected(_)) => Ok(MediaEventOutcome::NoChange),
            Err(ApplyError::NotFound) => Ok(MediaEventOutcome::UnknownRoom),
            Err(ApplyError::Store(err)) => Err(err.into()),
        }
    }

    /// The change a LiveKit report asks for; `None` when it names an identity we could never
    /// have issued (nothing to change).
    fn media_change(
        &self,
        kind: MediaEventKind,
        reported_at: Option<DateTime<Utc>>,
    ) -> Option<MediaChange> {
        let change = match kind {
            MediaEventKind::RoomStarted => MediaChange::Stream(Change::MediaRoomStarted),
            MediaEventKind::RoomFinished => MediaChange::Stream(Change::MediaRoomFinished),
            MediaEventKind::Egress { egress_id, status } => {
                MediaChange::Stream(Change::MediaEgress { egress_id, status })
            }
            MediaEventKind::Ingress { ingress_id, status } => {
                MediaChange::Stream(Change::MediaIngress { ingress_id, status })
            }
            MediaEventKind::ParticipantJoined {
                identity,
                sid,
                can_publish,
            } => MediaChange::Participant(ParticipantChange::MediaJoined {
                participant_id: self.new_id(),
                identity: Identity::new(identity).ok()?,
                sid,
                role: role_for(can_publish),
                reported_at,
            }),
            MediaEventKind::ParticipantLeft { identity, sid } => {
                MediaChange::Participant(ParticipantChange::MediaLeft {
                    identity: Identity::new(identity).ok()?,
                    sid,
                    reported_at,
                })
            }
            MediaEventKind::Track {
                identity,
                sid,
                track_sid,
                published,
            } => MediaChange::Participant(ParticipantChange::MediaTrack {
                identity: Identity::new(identity).ok()?,
                sid,
                track_sid,
                published,
                reported_at,
            }),
        };
        Some(change)
    }

    /// Heals drift between a stream and what LiveKit reports for its room, with the same changes
    /// webhooks would have made: the room is gone → the stream stops; a media session we think
    /// is connected is not → it left; one LiveKit has that we do not know (or know under another
    /// session) → it joined. Participants who have a token but never connected are left alone.
    /// Returns the events recorded.
    ///
    /// # Errors
    /// `NotFound`, `StoreUnavailable`, `Internal`.
    pub async fn reconcile_stream(
        &self,
        id: StreamId,
        room: Option<&[MediaParticipant]>,
    ) -> Result<Vec<StreamEvent>, StreamError> {
        let stream = self.get(id).await?;
        if stream.status != StreamStatus::Active {
            return Ok(Vec::new());
        }
        let Some(present) = room else {
            return match self.apply(id, Change::MediaRoomFinished).await {
                Ok(applied) => Ok(applied.event.into_iter().collect()),
                // Something newer won the race (a webhook, a stop): nothing to heal any more.
                Err(StreamError::InvalidTransition { .. } | StreamError::NotActive(_)) => {
                    Ok(Vec::new())
                }
                Err(err) => Err(err),
            };
        };
        let ours = self.connected_sessions(&stream).await?;
        let mut changes = Vec::new();
        for (identity, sid) in &ours {
            if !present.iter().any(|p| p.identity == identity.as_str()) {
                changes.push(ParticipantChange::MediaLeft {
                    identity: identity.clone(),
                    sid: sid.clone(),
                    reported_at: None,
                });
            }
        }
        for theirs in present {
            let Ok(identity) = Identity::new(theirs.identity.as_str()) else {
                continue;
            };
            if ours.get(&identity).map(String::as_str) != Some(theirs.sid.as_str()) {
                changes.push(ParticipantChange::MediaJoined {
                    participant_id: self.new_id(),
                    identity,
                    sid: theirs.sid.clone(),
                    role: role_for(theirs.can_publish),
                    reported_at: None,
                });
            }
        }
        let mut events = Vec::new();
        for change in changes {
            match self.apply_participant(id, change).await {
                Ok(applied) => events.extend(applied.event),
                // Something newer won the race (a stop): nothing to heal any more.
                Err(StreamError::NotActive(_) | StreamError::ParticipantNotFound(_)) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(events)
    }

    /// The media sessions the stream believes connected (present participants LiveKit told us
    /// about), paged through so no single read grows with the audience.
    async fn connected_sessions(
        &self,
        stream: &Stream,
    ) -> Result<HashMap<Identity, String>, StreamError> {
        let mut sessions = HashMap::new();
        let mut after = None;
        loop {
            let query = ParticipantQuery {
                active_only: true,
                after,
                limit: RECONCILE_PAGE,
            };
            let page = self
                .ports
                .streams
                .participants(stream.id, query)
                .await
                .map_err(list_error)?;
            for participant in page.items {
                if let (true, Some(sid)) = (participant.is_active(), participant.sid) {
                    sessions.insert(participant.identity, sid);
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(sessions),
            }
        }
    }

    /// Whether the service can serve: the store answers.
    ///
    /// # Errors
    /// `StoreUnavailable` when it does not.
    pub async fn ready(&self) -> Result<(), StreamError> {
        Ok(self.ports.streams.ping().await?)
    }

    async fn apply(&self, id: StreamId, change: Change) -> Result<Applied, StreamError> {
        self.ports
            .streams
            .apply(id, change, self.context())
            .await
            .map_err(|err| apply_error(id, err))
    }

    async fn apply_participant(
        &self,
        id: StreamId,
        change: ParticipantChange,
    ) -> Result<ParticipantApplied, StreamError> {
        self.ports
            .streams
            .apply_participant(id, change, self.context())
            .await
            .map_err(|err| apply_error(id, err))
    }

    fn context(&self) -> ChangeContext {
        ChangeContext {
            event_id: self.new_id(),
            at: self.ports.clock.now(),
            instance_id: self.instance_id.to_string(),
        }
    }

    fn new_id(&self) -> Uuid {
        self.ports.ids.new_id()
    }
}

/// Participants read per store round trip while reconciling a stream.
const RECONCILE_PAGE: usize = 1000;

/// A change a LiveKit report asks for: of the stream itself, or of one participant.
enum MediaChange {
    Stream(Change),
    Participant(ParticipantChange),
}

fn role_for(can_publish: bool) -> Role {
    if can_publish {
        Role::Host
    } else {
        Role::Viewer
    }
}

/// A page size from a request: 1 to [`ListStreams::MAX_LIMIT`], the default when absent.
fn page_limit(requested: Option<usize>) -> Result<usize, StreamError> {
    let limit = requested.unwrap_or(ListStreams::DEFAULT_LIMIT);
    if (1..=ListStreams::MAX_LIMIT).contains(&limit) {
        return Ok(limit);
    }
    Err(ValidationError::new(
        "limit",
        format!("must be between 1 and {}", ListStreams::MAX_LIMIT),
    )
    .into())
}

fn list_error(err: ListError) -> StreamError {
    match err {
        ListError::InvalidCursor => {
            ValidationError::new("cursor", "is not a cursor this service issued").into()
        }
        ListError::Store(err) => err.into(),
    }
}

fn apply_error(id: StreamId, err: ApplyError) -> StreamError {
    match err {
        ApplyError::NotFound => StreamError::NotFound(id.to_string()),
        ApplyError::Rejected(err) => err.into(),
        ApplyError::Store(err) => err.into(),
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
