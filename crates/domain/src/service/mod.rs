//! [`StreamService`]: the use cases every transport (REST, WebSocket, gRPC) shares — one method
//! per operation, failures as [`StreamError`].
//!
//! Each method takes validated domain values (transports convert raw input with the
//! constructors in [`crate::values`]), calls the ports, and reports failures as `StreamError`.
//! LiveKit side effects run before the state change they justify wherever possible, so a LiveKit
//! outage answers 503 and changes nothing.
//!
//! # Layout
//!
//! - [`commands`]: what the operations take and answer.
//! - `streams`: create, list, read, update and stop streams.
//! - `participants`: join, leave, and paging through a stream's participants.
//! - `rooms`: streams' room names, remembered so a join need not read the stream.
//! - [`media`]: what LiveKit reports (webhooks) and reconciling a stream with its room.
//! - [`broadcast`]: a stream's ingest and outputs (LiveKit Ingress and Egress).

pub mod broadcast;
pub mod commands;
pub mod media;
mod participants;
mod rooms;
mod streams;

use std::sync::Arc;

use uuid::Uuid;

use crate::broadcast::{
    BroadcastMedia, BroadcastPolicy, BroadcastRepository, Runtime, Unsupported,
};
use crate::change::{Applied, Change, ChangeContext};
use crate::error::StreamError;
use crate::membership::{ParticipantApplied, ParticipantChange};
use crate::ports::{
    ApplyError, Clock, EventLog, IdGenerator, ListError, MediaServer, StreamRepository, TokenIssuer,
};
use crate::values::{StreamId, ValidationError};

use commands::ListStreams;

/// The ports a [`StreamService`] runs on: made with [`Ports::new`] (streams and participants),
/// then [`Ports::with_broadcast`] for ingests and outputs.
#[derive(Clone)]
#[allow(missing_debug_implementations)]
#[non_exhaustive]
pub struct Ports {
    /// Streams and their participants.
    pub streams: Arc<dyn StreamRepository>,
    /// The streams' event logs.
    pub events: Arc<dyn EventLog>,
    /// The media server's rooms (LiveKit's RoomService).
    pub media: Arc<dyn MediaServer>,
    /// Join-token signer.
    pub tokens: Arc<dyn TokenIssuer>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Id source.
    pub ids: Arc<dyn IdGenerator>,
    /// Streams' ingests and outputs.
    pub broadcasts: Arc<dyn BroadcastRepository>,
    /// The media server's ingress and egress (LiveKit's Ingress and Egress services).
    pub broadcast_media: Arc<dyn BroadcastMedia>,
    /// Where media calls that follow a decision run (egress starts, retries, stops).
    pub runtime: Arc<dyn Runtime>,
    /// Whether broadcast ports were given: without them no ingest or output can be made.
    broadcast_supported: bool,
}

impl Ports {
    /// The ports of the stream and participant use cases; a stream has no ingest or outputs
    /// until [`with_broadcast`](Self::with_broadcast) gives their ports.
    pub fn new(
        streams: Arc<dyn StreamRepository>,
        events: Arc<dyn EventLog>,
        media: Arc<dyn MediaServer>,
        tokens: Arc<dyn TokenIssuer>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self {
            streams,
            events,
            media,
            tokens,
            clock,
            ids,
            broadcasts: Arc::new(Unsupported),
            broadcast_media: Arc::new(Unsupported),
            runtime: Arc::new(Unsupported),
            broadcast_supported: false,
        }
    }

    /// The same ports, with ingests and outputs recorded in `broadcasts`, made by
    /// `broadcast_media`, their follow-up calls run on `runtime`.
    #[must_use]
    pub fn with_broadcast(
        mut self,
        broadcasts: Arc<dyn BroadcastRepository>,
        broadcast_media: Arc<dyn BroadcastMedia>,
        runtime: Arc<dyn Runtime>,
    ) -> Self {
        self.broadcasts = broadcasts;
        self.broadcast_media = broadcast_media;
        self.runtime = runtime;
        self.broadcast_supported = true;
        self
    }
}

/// The use cases of the orchestrator. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct StreamService {
    ports: Ports,
    instance_id: Arc<str>,
    rooms: Arc<rooms::RoomNames>,
    policy: BroadcastPolicy,
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
            rooms: Arc::default(),
            policy: BroadcastPolicy::default(),
        }
    }

    /// The same service, enforcing `policy` on outputs (storage, RTMP targets).
    #[must_use]
    pub fn with_broadcast_policy(mut self, policy: BroadcastPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Parses a stream id from a path; an id that cannot exist is simply not found.
    ///
    /// # Errors
    /// [`StreamError::NotFound`] when `raw` is not a UUID.
    pub fn parse_id(raw: &str) -> Result<StreamId, StreamError> {
        StreamId::parse(raw).map_err(|_| StreamError::NotFound(crate::values::excerpt(raw)))
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
mod tests;
