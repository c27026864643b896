//! Atomic mutations of a stream itself (status, metadata, room outputs) and the pure function
//! that decides their outcome. Participants change through [`crate::membership`].
//!
//! A repository applies a [`Change`] atomically: it loads the stream, calls [`Stream::apply`],
//! and stores the new stream and its event (if any) in one step, fenced by the version it read.
//! Because every store calls the same function, the status machine lives here once, and a
//! change that finds nothing to do produces no event and no version bump.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::event::{EventType, StreamEvent};
use crate::stream::{Stream, StreamStatus};
use crate::values::{Identity, Metadata};

/// The version a writer expects the stream to be at, and where the expectation came from
/// (transports report a stale body `version` and a stale `If-Match` differently).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// `version` field of the request body (409 when stale).
    Body(u64),
    /// `If-Match` ETag (412 when stale).
    IfMatch(u64),
}

/// One atomic mutation of a stream itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Status and/or metadata (merge patch) change, optionally fenced by a version.
    Update {
        /// Target status, checked against the status machine.
        status: Option<StreamStatus>,
        /// Merge patch for the metadata.
        metadata: Option<Metadata>,
        /// Required current version.
        expected: Option<ExpectedVersion>,
    },
    /// First half of a stop: `active | error → stopping`. A no-op once stopping or stopped.
    BeginStop,
    /// Second half of a stop, after the LiveKit room is gone: `→ stopped`. A no-op once stopped.
    FinishStop,
    /// LiveKit reported the room started.
    MediaRoomStarted,
    /// LiveKit reported the room finished.
    MediaRoomFinished,
    /// LiveKit reported the status of an egress of the room.
    MediaEgress {
        /// LiveKit's egress id.
        egress_id: String,
        /// Its status, as LiveKit names it (e.g. `EGRESS_ACTIVE`).
        status: String,
    },
    /// LiveKit reported the status of an ingress into the room.
    MediaIngress {
        /// LiveKit's ingress id.
        ingress_id: String,
        /// Its status, as LiveKit names it (e.g. `ENDPOINT_PUBLISHING`).
        status: String,
    },
}

/// What a change needs from outside the aggregate, fixed before it is applied so that applying
/// the same change twice (a store retrying after a reconnect) gives the same result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeContext {
    /// Id of the event the change produces, if it produces one.
    pub event_id: Uuid,
    /// When the change happens.
    pub at: DateTime<Utc>,
    /// The orchestrator instance making it.
    pub instance_id: String,
}

/// Why a change was refused. Nothing is stored when a change is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TransitionError {
    /// The status machine does not allow this move.
    #[error("a {from} stream cannot become {to}")]
    InvalidTransition {
        /// Current status.
        from: StreamStatus,
        /// Requested status.
        to: StreamStatus,
    },
    /// The operation needs an active stream.
    #[error("the stream is {0}, not active")]
    NotActive(StreamStatus),
    /// The body's `version` is not the current version.
    #[error("version {expected} is stale: the stream is at version {current}")]
    VersionConflict {
        /// Version the writer expected.
        expected: u64,
        /// Version the stream is at.
        current: u64,
    },
    /// The `If-Match` ETag is not the current version.
    #[error("If-Match asks for version {expected}, but the stream is at version {current}")]
    PreconditionFailed {
        /// Version the writer expected.
        expected: u64,
        /// Version the stream is at.
        current: u64,
    },
    /// The change would break a limit (metadata too large after the merge).
    #[error(transparent)]
    Invalid(#[from] crate::values::ValidationError),
    /// No participant with this identity ever joined the stream.
    #[error("participant \"{0}\" is not in this stream")]
    ParticipantNotFound(Identity),
}

/// The outcome of a change: the stream after it, and the event it produced (none for a no-op).
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The stream after the change.
    pub stream: Stream,
    /// The one event recording the change, or `None` if nothing changed.
    pub event: Option<StreamEvent>,
}

impl Stream {
    /// Decides the outcome of `change` on this stream, without side effects: what a store
    /// records atomically (the stream afterwards and its one event), or why it is refused.
    ///
    /// ```
    /// use orchestrator_domain::change::{Change, ChangeContext, TransitionError};
    /// use orchestrator_domain::stream::{Stream, StreamStatus};
    /// use orchestrator_domain::values::{Metadata, RoomName, StreamId};
    ///
    /// let now = chrono::Utc::now();
    /// let ctx = ChangeContext { event_id: uuid::Uuid::new_v4(), at: now, instance_id: "a".into() };
    /// let mut stream = Stream::new_active(
    ///     StreamId::from_uuid(uuid::Uuid::new_v4()),
    ///     RoomName::new("launch").unwrap(),
    ///     None,
    ///     Metadata::default(),
    ///     now,
    /// );
    /// stream.record_creation(&ctx);
    ///
    /// let stopping = stream.apply(&Change::BeginStop, &ctx).unwrap();
    /// assert_eq!(stopping.stream.status, StreamStatus::Stopping);
    /// assert_eq!(stopping.event.map(|event| event.seq), Some(2));
    ///
    /// let stopped = stopping.stream.apply(&Change::FinishStop, &ctx).unwrap().stream;
    /// let reopen = Change::Update { status: Some(StreamStatus::Active), metadata: None, expected: None };
    /// assert!(matches!(
    ///     stopped.apply(&reopen, &ctx),
    ///     Err(TransitionError::InvalidTransition { .. })
    /// ));
    /// ```
    ///
    /// # Errors
    /// [`TransitionError`] when the change is refused; the stream is then unchanged.
    pub fn apply(&self, change: &Change, ctx: &ChangeContext) -> Result<Applied, TransitionError> {
        let mut next = self.clone();
        let recorded = match change {
            Change::Update {
                status,
                metadata,
                expected,
            } => next.update(*status, metadata.as_ref(), *expected, ctx.at)?,
            Change::BeginStop => next.begin_stop(ctx.at)?,
            Change::FinishStop => next.finish_stop(ctx.at)?,
            Change::MediaRoomStarted => next.media_room_started(ctx.at),
            Change::MediaRoomFinished => next.media_room_finished(ctx.at),
            Change::MediaEgress { egress_id, status } => {
                record_output(&mut next.egress, "egress", egress_id, status)
            }
            Change::MediaIngress { ingress_id, status } => {
                record_output(&mut next.ingress, "ingress", ingress_id, status)
            }
        };
        let event = recorded.map(|(kind, data)| {
            next.version += 1;
            next.seq += 1;
            next.updated_at = ctx.at;
            StreamEvent {
                id: ctx.event_id,
                seq: next.seq,
                kind,
                stream_id: next.id,
                timestamp: ctx.at,
                data,
                instance_id: ctx.instance_id.clone(),
            }
        });
        if event.is_none() {
            next = self.clone();
        }
        Ok(Applied {
            stream: next,
            event,
        })
    }

    /// The event that records this stream's creation (seq 1), bumping `seq` accordingly.
    pub fn record_creation(&mut self, ctx: &ChangeContext) -> StreamEvent {
        self.seq += 1;
        StreamEvent {
            id: ctx.event_id,
            seq: self.seq,
            kind: EventType::StreamCreated,
            stream_id: self.id,
            timestamp: ctx.at,
            data: json!({
                "roomName": self.room_name,
                "status": self.status,
                "metadata": self.metadata,
            }),
            instance_id: ctx.instance_id.clone(),
        }
    }

    fn update(
        &mut self,
        status: Option<StreamStatus>,
        metadata: Option<&Metadata>,
        expected: Option<ExpectedVersion>,
        at: DateTime<Utc>,
    ) -> Result<Recorded, TransitionError> {
        match expected {
            Some(ExpectedVersion::Body(v)) if v != self.version => {
                return Err(TransitionError::VersionConflict {
                    expected: v,
                    current: self.version,
                })
            }
            Some(ExpectedVersion::IfMatch(v)) if v != self.version => {
                return Err(TransitionError::PreconditionFailed {
                    expected: v,
                    current: self.version,
                })
            }
            _ => {}
        }
        let previous = self.status;
        let new_status = status.filter(|to| *to != previous);
        if let Some(to) = new_status {
            if !previous.can_become(to) {
                return Err(TransitionError::InvalidTransition { from: previous, to });
            }
        }
        let merged = metadata
            .map(|patch| self.metadata.merged(patch))
            .transpose()?
            .filter(|merged| *merged != self.metadata);
        if new_status.is_none() && merged.is_none() {
            return Ok(None);
        }
        let patch = merged.is_some().then_some(metadata).flatten();
        if let Some(merged) = merged {
            self.metadata = merged;
        }
        if let Some(to) = new_status {
            self.set_status(to, at);
        }
        Ok(Some(self.status_event(previous, patch)))
    }

    fn begin_stop(&mut self, at: DateTime<Utc>) -> Result<Recorded, TransitionError> {
        match self.status {
            StreamStatus::Stopping | StreamStatus::Stopped => Ok(None),
            from @ (StreamStatus::Creating | StreamStatus::Active | StreamStatus::Error) => {
                if !from.can_become(StreamStatus::Stopping) {
                    return Err(TransitionError::InvalidTransition {
                        from,
                        to: StreamStatus::Stopping,
                    });
                }
                self.set_status(StreamStatus::Stopping, at);
                Ok(Some(self.status_event(from, None)))
            }
        }
    }

    fn finish_stop(&mut self, at: DateTime<Utc>) -> Result<Recorded, TransitionError> {
        let from = self.status;
        if from == StreamStatus::Stopped {
            return Ok(None);
        }
        if !from.can_become(StreamStatus::Stopped) {
            return Err(TransitionError::InvalidTransition {
                from,
                to: StreamStatus::Stopped,
            });
        }
        self.set_status(StreamStatus::Stopped, at);
        Ok(Some(self.status_event(from, None)))
    }

    fn media_room_started(&mut self, at: DateTime<Utc>) -> Recorded {
        if self.status != StreamStatus::Creating {
            return None;
        }
        self.set_status(StreamStatus::Active, at);
        Some(self.status_event(StreamStatus::Creating, None))
    }

    fn media_room_finished(&mut self, at: DateTime<Utc>) -> Recorded {
        let from = self.status;
        if from == StreamStatus::Stopped || !from.can_become(StreamStatus::Stopped) {
            return None;
        }
        self.set_status(StreamStatus::Stopped, at);
        Some(self.status_event(from, None))
    }

    fn set_status(&mut self, to: StreamStatus, at: DateTime<Utc>) {
        self.status = to;
        match to {
            StreamStatus::Active => {
                self.started_at.get_or_insert(at);
            }
            StreamStatus::Stopped => {
                self.stopped_at = Some(at);
                // The room is gone, so is everyone in it: stream_stopped says so for all of
                // them, and their records read as left from now on (Participant::as_of).
                self.audience = self.audience.emptied();
            }
            StreamStatus::Creating | StreamStatus::Stopping | StreamStatus::Error => {}
        }
    }

    /// The event of a status and/or metadata change. It carries the merge patch that changed
    /// the metadata, not the whole metadata again, so the event log grows with what changed.
    fn status_event(
        &self,
        previous: StreamStatus,
        metadata_patch: Option<&Metadata>,
    ) -> (EventType, serde_json::Value) {
        let kind = if self.status == StreamStatus::Stopped && previous != StreamStatus::Stopped {
            EventType::StreamStopped
        } else {
            EventType::StreamUpdated
        };
        let mut data = json!({
            "status": self.status,
            "previousStatus": previous,
            "stoppedAt": self.stopped_at.map(crate::policy::time::format),
        });
        if let Some(patch) = metadata_patch {
            data["metadataPatch"] = json!(patch);
        }
        if kind == EventType::StreamStopped {
            data["roomName"] = json!(self.room_name);
        }
        (kind, data)
    }
}

/// An event kind and its data, before the aggregate numbers it.
type Recorded = Option<(EventType, serde_json::Value)>;

/// Records an egress or ingress status; the same status again is no change.
fn record_output(
    outputs: &mut std::collections::BTreeMap<String, String>,
    label: &str,
    id: &str,
    status: &str,
) -> Recorded {
    if outputs.get(id).is_some_and(|known| known == status) {
        return None;
    }
    outputs.insert(id.to_owned(), status.to_owned());
    Some((EventType::StreamUpdated, json!({ label: { id: status } })))
}

#[cfg(test)]
#[path = "change_tests.rs"]
mod tests;
