//! Ports: what the domain needs from the outside world. Adapters implement them; the
//! [`StreamService`](crate::service::StreamService) only ever sees these traits.
//!
//! With the `mocks` feature (and in this crate's tests) every trait has a mockall mock,
//! `Mock<TraitName>`.

use std::pin::Pin;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::change::{Applied, Change, ChangeContext, TransitionError};
use crate::event::StreamEvent;
use crate::membership::{ParticipantApplied, ParticipantChange};
use crate::participant::{Participant, Role};
use crate::stream::{Stream, StreamStatus};
use crate::values::{Cursor, Identity, Metadata, RoomName, StreamId};

/// A storage failure. Transports answer `Unavailable` with 503 and `Corrupt` with 500.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or did not answer in time; retrying later may work.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store answered with something the domain cannot read.
    #[error("store returned unreadable data: {0}")]
    Corrupt(String),
}

/// Why [`StreamRepository::insert`] stored nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InsertError {
    /// A stream that is not stopped already uses the room name.
    #[error("room name {0} is used by a live stream")]
    RoomNameTaken(RoomName),
    /// The stream id is already taken (an id generator bug or a replayed insert).
    #[error("stream {0} already exists")]
    DuplicateId(StreamId),
    /// See [`StoreError`].
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why [`StreamRepository::apply`] stored nothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// No stream has this id.
    #[error("stream not found")]
    NotFound,
    /// [`Stream::apply`] refused the change.
    #[error(transparent)]
    Rejected(#[from] TransitionError),
    /// See [`StoreError`].
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A listing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Only streams with this status.
    pub status: Option<StreamStatus>,
    /// Start after this position (from a previous page).
    pub after: Option<Cursor>,
    /// Page size, already clamped by the service.
    pub limit: usize,
}

/// One page of a listing, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The streams of this page.
    pub items: Vec<Stream>,
    /// Where the next page starts, if there is one.
    pub next: Option<Cursor>,
}

/// A request for a page of a stream's participants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantQuery {
    /// Only participants present now (records still marked present on a stopped stream are
    /// the caller's to filter; see [`crate::participant::Participant::as_of`]).
    pub active_only: bool,
    /// Start after this position (from a previous page).
    pub after: Option<Cursor>,
    /// Page size, already clamped by the service.
    pub limit: usize,
}

/// One page of a stream's participants, in order of first join.
#[derive(Debug, Clone, PartialEq)]
pub struct ParticipantPage {
    /// The participants of this page, as stored.
    pub items: Vec<Participant>,
    /// Where the next page starts, if there is one.
    pub next: Option<Cursor>,
}

/// Errors of [`StreamRepository::list`] and [`StreamRepository::participants`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    /// The cursor was not handed out by this repository.
    #[error("invalid cursor")]
    InvalidCursor,
    /// See [`StoreError`].
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Durable home of streams, their participants and their event logs.
///
/// Every write stores the change and its event in one atomic step, so the event log never
/// misses or invents a change. Participants are records of their own keyed by (stream,
/// identity) beside per-stream [`Audience`](crate::audience::Audience) counters: no operation reads or
/// writes the whole audience, so every cost here is independent of its size.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait StreamRepository: Send + Sync {
    /// Stores a new stream with its `stream_created` event.
    ///
    /// # Errors
    /// [`InsertError::RoomNameTaken`] if a stream that is not stopped uses the room name,
    /// [`InsertError::DuplicateId`] if the id exists, [`InsertError::Store`] otherwise.
    async fn insert(&self, stream: Stream, event: StreamEvent) -> Result<(), InsertError>;

    /// The stream with this id.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails; an unknown id is `Ok(None)`.
    async fn get(&self, id: StreamId) -> Result<Option<Stream>, StoreError>;

    /// The stream that is not stopped and uses this room, if any.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn find_live_by_room(&self, room: &RoomName) -> Result<Option<Stream>, StoreError>;

    /// The stream that uses this room now or, if none does, the last one that did (stopped,
    /// until its retention ends): where LiveKit's reports of egresses and ingresses that end
    /// after their stream stopped belong.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn find_latest_by_room(&self, room: &RoomName) -> Result<Option<Stream>, StoreError>;

    /// A page of streams in creation order.
    ///
    /// # Errors
    /// [`ListError::InvalidCursor`] for a cursor this repository did not issue,
    /// [`ListError::Store`] when the store fails.
    async fn list(&self, query: ListQuery) -> Result<Page, ListError>;

    /// Atomically applies `change` with [`Stream::apply`] and stores the result and its event.
    ///
    /// # Errors
    /// [`ApplyError::NotFound`] for an unknown id, [`ApplyError::Rejected`] when the change is
    /// refused, [`ApplyError::Store`] when the store fails. Nothing is stored on error.
    async fn apply(
        &self,
        id: StreamId,
        change: Change,
        ctx: ChangeContext,
    ) -> Result<Applied, ApplyError>;

    /// Atomically decides `change` with [`ParticipantChange::decide`] on the participant's
    /// record and the stream's status at that moment, and stores the record, the counters and
    /// the event (numbered after the stream's latest seq) — one step touching a constant
    /// number of records whatever the audience size, with no retry that can give up under
    /// contention.
    ///
    /// # Errors
    /// [`ApplyError::NotFound`] for an unknown stream, [`ApplyError::Rejected`] when the change
    /// is refused, [`ApplyError::Store`] when the store fails. Nothing is stored on error.
    async fn apply_participant(
        &self,
        id: StreamId,
        change: ParticipantChange,
        ctx: ChangeContext,
    ) -> Result<ParticipantApplied, ApplyError>;

    /// The participant record of `identity` in stream `id`, as stored.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails; an unknown stream or identity is `Ok(None)`.
    async fn participant(
        &self,
        id: StreamId,
        identity: &Identity,
    ) -> Result<Option<Participant>, StoreError>;

    /// A page of the participant records of stream `id`, in order of first join.
    ///
    /// # Errors
    /// [`ListError::InvalidCursor`] for a cursor this repository did not issue,
    /// [`ListError::Store`] when the store fails. An unknown stream has no participants.
    async fn participants(
        &self,
        id: StreamId,
        query: ParticipantQuery,
    ) -> Result<ParticipantPage, ListError>;

    /// Checks that the store answers (readiness).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it does not.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// A live feed of events of every stream, in per-stream seq order. Delivery is at most once:
/// a subscriber that sees a seq gap backfills it with [`EventLog::read_after`].
pub type EventFeed = Pin<Box<dyn futures_core::Stream<Item = StreamEvent> + Send>>;

/// Read side of the per-stream event logs written by [`StreamRepository`].
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Up to `limit` events of `stream` with a seq above `after_seq`, in order.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn read_after(
        &self,
        stream: StreamId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StreamEvent>, StoreError>;

    /// Subscribes to every event appended from now on.
    fn subscribe(&self) -> EventFeed;

    /// The store's epoch: an id that changes when the store lost its data (a Redis restarted
    /// without persistence, a flush). Seqs from another epoch mean nothing: a subscriber that
    /// sees the epoch change must reload state instead of resuming.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn epoch(&self) -> Result<String, StoreError>;
}

/// A LiveKit call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The room or participant does not exist in LiveKit.
    #[error("not found in LiveKit: {0}")]
    NotFound(String),
    /// LiveKit could not be reached or failed on its side (503).
    #[error("LiveKit unavailable: {0}")]
    Unavailable(String),
    /// LiveKit refused the request (502: our request or credentials are wrong).
    #[error("LiveKit refused the request: {0}")]
    Rejected(String),
}

/// A LiveKit room as the orchestrator needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRoom {
    /// LiveKit's room id.
    pub sid: String,
    /// The room name.
    pub name: String,
    /// Participants connected now.
    pub num_participants: u32,
}

/// A participant connected to a LiveKit room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaParticipant {
    /// LiveKit's session id.
    pub sid: String,
    /// The identity the token carried.
    pub identity: String,
    /// Whether the session may publish.
    pub can_publish: bool,
}

/// The media server (LiveKit's RoomService).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait MediaServer: Send + Sync {
    /// Creates the room, or returns it if it exists.
    ///
    /// # Errors
    /// [`MediaError::Unavailable`] or [`MediaError::Rejected`].
    async fn create_room(&self, room: &RoomName) -> Result<MediaRoom, MediaError>;

    /// Deletes the room, disconnecting everyone.
    ///
    /// # Errors
    /// [`MediaError::NotFound`] if there is no such room, else as `create_room`.
    async fn delete_room(&self, room: &RoomName) -> Result<(), MediaError>;

    /// Every room LiveKit has.
    ///
    /// # Errors
    /// As `create_room`.
    async fn list_rooms(&self) -> Result<Vec<MediaRoom>, MediaError>;

    /// Participants connected to the room.
    ///
    /// # Errors
    /// [`MediaError::NotFound`] if there is no such room, else as `create_room`.
    async fn list_participants(&self, room: &RoomName)
        -> Result<Vec<MediaParticipant>, MediaError>;

    /// Disconnects `identity` from the room.
    ///
    /// # Errors
    /// [`MediaError::NotFound`] if the room or participant is unknown, else as `create_room`.
    async fn remove_participant(
        &self,
        room: &RoomName,
        identity: &Identity,
    ) -> Result<(), MediaError>;

    /// Replaces the room's metadata (visible to everyone in the room).
    ///
    /// # Errors
    /// [`MediaError::NotFound`] if there is no such room, else as `create_room`.
    async fn update_room_metadata(&self, room: &RoomName, metadata: &str)
        -> Result<(), MediaError>;

    /// Whether the media server answers, as cheaply as it allows (readiness checks call it
    /// every few seconds). By default, a listing of the rooms.
    ///
    /// # Errors
    /// As `create_room`.
    async fn reachable(&self) -> Result<(), MediaError> {
        self.list_rooms().await.map(drop)
    }
}

/// What a join token grants.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinGrant {
    /// The room the token opens.
    pub room: RoomName,
    /// The participant's identity.
    pub identity: Identity,
    /// Decides the publish permissions.
    pub role: Role,
    /// Carried in the token for the other participants to see.
    pub metadata: Option<Metadata>,
}

/// The token could not be signed (a configuration problem, answered with 500).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not sign the join token: {0}")]
pub struct TokenError(pub String);

/// Signs LiveKit join tokens.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait TokenIssuer: Send + Sync {
    /// A signed access token for `grant`.
    ///
    /// # Errors
    /// [`TokenError`] when signing fails.
    fn issue(&self, grant: &JoinGrant) -> Result<String, TokenError>;

    /// The URL media clients connect to with the token.
    fn ws_url(&self) -> String;
}

/// The time.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// New unique ids.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait IdGenerator: Send + Sync {
    /// A fresh id.
    fn new_id(&self) -> Uuid;
}

/// The system clock, at millisecond precision (what clients see in RFC 3339 timestamps).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        use chrono::SubsecRound;
        Utc::now().trunc_subsecs(3)
    }
}

/// Random UUID v4 ids.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomIds;

impl IdGenerator for RandomIds {
    fn new_id(&self) -> Uuid {
        Uuid::new_v4()
    }
}
