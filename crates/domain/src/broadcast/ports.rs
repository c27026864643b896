//! The ports broadcast needs: its records in the store, LiveKit's Ingress and Egress services,
//! and a runtime to pace and retry LiveKit calls in the background.
//!
//! With the `mocks` feature (and in this crate's tests) every trait has a mockall mock,
//! `Mock<TraitName>`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;

use super::ingest::{Ingest, IngestKind, IngressReport};
use super::output::{EgressReport, Output};
use super::values::{OutputId, Secret};
use crate::change::ChangeContext;
use crate::event::{EventType, StreamEvent};
use crate::ports::{MediaError, StoreError};
use crate::stream::StreamStatus;
use crate::values::{RoomName, StreamId};

/// A stream's broadcast records, as read together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BroadcastState {
    /// Its ingest, if it has one.
    pub ingest: Option<Ingest>,
    /// Its outputs (at most [`MAX_OUTPUTS`](super::MAX_OUTPUTS)), by name.
    pub outputs: Vec<Output>,
    /// Whether the stream went live (a host or its ingest published): outputs that start with
    /// it start as soon as they are added.
    pub live: bool,
}

impl BroadcastState {
    /// The output named `id`.
    pub fn output(&self, id: &OutputId) -> Option<&Output> {
        self.outputs.iter().find(|output| output.id == *id)
    }

    /// Applies `write` if its fence holds: the record's revision is the expected one, and an
    /// added output is within [`MAX_OUTPUTS`](super::MAX_OUTPUTS). What a store that holds the
    /// records under one lock runs (the Redis script mirrors it).
    ///
    /// # Errors
    /// [`BroadcastWriteError::Conflict`], [`BroadcastWriteError::TooManyOutputs`]; nothing
    /// changes then.
    pub fn apply(&mut self, write: &BroadcastWrite) -> Result<(), BroadcastWriteError> {
        match &write.record {
            BroadcastRecord::Live => {
                if self.live {
                    return Err(BroadcastWriteError::Conflict);
                }
                self.live = true;
            }
            BroadcastRecord::Ingest(next) => {
                if self.ingest.as_ref().map(|i| i.revision) != write.expected {
                    return Err(BroadcastWriteError::Conflict);
                }
                self.ingest.clone_from(next);
            }
            BroadcastRecord::Output { id, output } => {
                let at = self.outputs.iter().position(|o| o.id == *id);
                if at.map(|at| self.outputs[at].revision) != write.expected {
                    return Err(BroadcastWriteError::Conflict);
                }
                match (at, output) {
                    (Some(at), Some(output)) => self.outputs[at] = output.clone(),
                    (Some(at), None) => {
                        self.outputs.remove(at);
                    }
                    (None, Some(_)) if self.outputs.len() >= super::MAX_OUTPUTS => {
                        return Err(BroadcastWriteError::TooManyOutputs);
                    }
                    (None, Some(output)) => self.outputs.push(output.clone()),
                    (None, None) => {}
                }
            }
        }
        Ok(())
    }
}

/// The record a [`BroadcastWrite`] changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BroadcastRecord {
    /// The ingest: `None` removes it.
    Ingest(Option<Ingest>),
    /// One output: `None` removes it.
    Output {
        /// Which.
        id: OutputId,
        /// The output afterwards.
        output: Option<Output>,
    },
    /// The stream went live (no record changes but the mark; no event).
    Live,
}

/// One change of a broadcast record and its event, stored in one atomic step.
#[derive(Debug, Clone, PartialEq)]
pub struct BroadcastWrite {
    /// The record afterwards (its `revision` already the next one).
    pub record: BroadcastRecord,
    /// The record's revision the change was decided on; `None`: it must not exist yet.
    pub expected: Option<u64>,
    /// The event's type and data (the store numbers it with the stream's next seq); `None`
    /// for a change no subscriber sees (the live mark).
    pub event: Option<(EventType, serde_json::Value)>,
    /// Whether the stream must still be active (adding and starting); a report of LiveKit's
    /// after the stream stopped is still recorded.
    pub require_active: bool,
}

/// Why a [`BroadcastWrite`] stored nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BroadcastWriteError {
    /// No stream has this id.
    #[error("stream not found")]
    NotFound,
    /// The stream is not active and the write required it.
    #[error("the stream is {0}")]
    NotActive(StreamStatus),
    /// The record's revision is not the expected one (another change won): read again and
    /// decide again.
    #[error("the record changed meanwhile")]
    Conflict,
    /// Adding one more output would exceed [`MAX_OUTPUTS`](super::MAX_OUTPUTS).
    #[error("the stream has the most outputs it may have")]
    TooManyOutputs,
    /// See [`StoreError`].
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where broadcast records live: beside the stream, under its hash tag, never in the stream
/// document (so nothing about them makes a GET or a join cost more).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait BroadcastRepository: Send + Sync {
    /// The stream's ingest, outputs and live mark (one read, bounded by the output limit).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails. An unknown stream has nothing.
    async fn broadcast(&self, stream: StreamId) -> Result<BroadcastState, StoreError>;

    /// Atomically: checks the stream (exists; active if required), the record's revision
    /// (and the output limit when adding), stores the record and appends the event with the
    /// stream's next seq, publishing it like every other event.
    ///
    /// # Errors
    /// [`BroadcastWriteError`]; nothing is stored on error.
    async fn write_broadcast(
        &self,
        stream: StreamId,
        write: BroadcastWrite,
        ctx: ChangeContext,
    ) -> Result<Option<StreamEvent>, BroadcastWriteError>;
}

/// An ingress LiveKit created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedIngress {
    /// LiveKit's ingress id.
    pub ingress_id: String,
    /// Where an encoder sends its media.
    pub url: String,
    /// The encoder's key (empty for a URL pull).
    pub stream_key: Secret,
}

/// An egress LiveKit accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedEgress {
    /// LiveKit's egress id.
    pub egress_id: String,
    /// Where players will read it (an HLS playlist), when known at the start.
    pub playback_url: Option<String>,
    /// Where its file or segments go, when known at the start.
    pub location: Option<String>,
}

/// LiveKit's Ingress and Egress services.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait BroadcastMedia: Send + Sync {
    /// Creates an ingress publishing into `room`.
    ///
    /// # Errors
    /// [`MediaError`]: `Unavailable` (retry later), `Rejected`.
    async fn create_ingress(
        &self,
        room: &RoomName,
        kind: &IngestKind,
    ) -> Result<CreatedIngress, MediaError>;

    /// Deletes an ingress: its key stops working at once.
    ///
    /// # Errors
    /// [`MediaError::NotFound`] when LiveKit does not know it, else as `create_ingress`.
    async fn delete_ingress(&self, ingress_id: &str) -> Result<(), MediaError>;

    /// The ingresses of `room`, as LiveKit reports them.
    ///
    /// # Errors
    /// As `create_ingress`.
    async fn list_ingress(&self, room: &RoomName) -> Result<Vec<IngressReport>, MediaError>;

    /// Reserves the next egress start: how long from now this instance may send it. Starts
    /// are paced (LiveKit accepts so many a second), so a claimed start may wait its turn; the
    /// wait is recorded with the claim ([`Output::start_at`]), so nobody takes a start that is
    /// only waiting for one that was interrupted.
    fn start_turn(&self) -> Duration;

    /// Starts the egress of `output` for `room` (stream `stream`) now: the caller waited for
    /// its turn ([`start_turn`](Self::start_turn)).
    ///
    /// # Errors
    /// As `create_ingress`.
    async fn start_egress(
        &self,
        room: &RoomName,
        stream: StreamId,
        output: &Output,
    ) -> Result<StartedEgress, MediaError>;

    /// Stops an egress.
    ///
    /// # Errors
    /// [`MediaError::NotFound`] when LiveKit does not know it (or it already ended), else as
    /// `create_ingress`.
    async fn stop_egress(&self, egress_id: &str) -> Result<(), MediaError>;

    /// The egresses of `room` LiveKit still lists (every status).
    ///
    /// # Errors
    /// As `create_ingress`.
    async fn list_egress(&self, room: &RoomName) -> Result<Vec<EgressReport>, MediaError>;
}

/// A task to run in the background.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Something worth counting about outputs (the app's metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// An output's observed state changed to this one (on this instance).
    Entered(super::Observed),
    /// An egress was asked for: LiveKit accepted (`true`) or not.
    EgressStart(bool),
    /// A failed start is tried again.
    Retry,
}

/// What runs LiveKit calls off the request that caused them: starting egresses after the
/// claim, retrying with backoff, stopping.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Runtime: Send + Sync {
    /// Runs `task` in the background.
    fn spawn(&self, task: Task);

    /// Waits `delay`.
    async fn sleep(&self, delay: Duration);

    /// Tells the operator what a background task could not do (the reconciler repairs it).
    fn note(&self, what: &str);

    /// Counts what happens to outputs.
    fn observe(&self, observation: Observation);
}
