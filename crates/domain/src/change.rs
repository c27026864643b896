//! Atomic mutations of a stream and the pure function that decides their outcome.
//!
//! A repository applies a [`Change`] atomically: it loads the stream, calls [`Stream::apply`],
//! and stores the new stream and its event (if any) in one step. Because every store calls the
//! same function, the status machine and the idempotency rules live here once, and a change
//! that finds nothing to do produces no event and no version bump.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::event::{EventType, StreamEvent};
use crate::participant::{Participant, Role};
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

/// One atomic mutation of a stream.
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
    /// A participant joins through the API (needs an active stream).
    Join {
        /// Id given to the participant if this identity never joined before.
        participant_id: Uuid,
        /// Who joins.
        identity: Identity,
        /// What they may do.
        role: Role,
        /// Their metadata, if given.
        metadata: Option<Metadata>,
    },
    /// A participant leaves through the API.
    Leave {
        /// Who leaves.
        identity: Identity,
    },
    /// LiveKit reported the room started.
    MediaRoomStarted,
    /// LiveKit reported the room finished.
    MediaRoomFinished,
    /// LiveKit reported a media session of `identity` joined the room.
    MediaJoined {
        /// Id given to the participant if this identity never joined before.
        participant_id: Uuid,
        /// The LiveKit identity.
        identity: Identity,
        /// LiveKit's id of the session.
        sid: String,
        /// Role derived from the session's permissions (used for unknown identities).
        role: Role,
        /// When LiveKit produced the report, if known.
        reported_at: Option<DateTime<Utc>>,
    },
    /// LiveKit reported a media session of `identity` left the room (or its connection was
    /// aborted).
    MediaLeft {
        /// The LiveKit identity.
        identity: Identity,
        /// LiveKit's id of the session that left.
        sid: String,
        /// When LiveKit produced the report, if known.
        reported_at: Option<DateTime<Utc>>,
    },
    /// LiveKit reported a track published or unpublished by a media session.
    MediaTrack {
        /// The LiveKit identity.
        identity: Identity,
        /// LiveKit's id of the publishing session.
        sid: String,
        /// LiveKit's id of the track.
        track_sid: String,
        /// Published (true) or unpublished (false).
        published: bool,
        /// When LiveKit produced the report, if known.
        reported_at: Option<DateTime<Utc>>,
    },
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
    /// Decides the outcome of `change` on this stream, without side effects.
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
            Change::Join {
                participant_id,
                identity,
                role,
                metadata,
            } => next.join(*participant_id, identity, *role, metadata.as_ref(), ctx.at)?,
            Change::Leave { identity } => next.leave(identity, None, None, ctx.at)?,
            Change::MediaRoomStarted => next.media_room_started(ctx.at),
            Change::MediaRoomFinished => next.media_room_finished(ctx.at),
            Change::MediaJoined {
                participant_id,
                identity,
                sid,
                role,
                reported_at,
            } => next.media_joined(*participant_id, identity, sid, *role, *reported_at, ctx.at),
            Change::MediaLeft {
                identity,
                sid,
                reported_at,
            } => match next.leave(identity, Some(sid), *reported_at, ctx.at) {
                Ok(recorded) => recorded,
                // LiveKit may report people we never heard of (joined before a webhook loss).
                Err(TransitionError::ParticipantNotFound(_)) => None,
                Err(other) => return Err(other),
            },
            Change::MediaTrack {
                identity,
                sid,
                track_sid,
                published,
                reported_at,
            } => next.media_track(identity, sid, track_sid, *published, *reported_at),
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
        let old_metadata = self.metadata.clone();
        if let Some(patch) = metadata {
            self.metadata.merge(patch);
        }
        if new_status.is_none() && self.metadata == old_metadata {
            return Ok(None);
        }
        if let Some(to) = new_status {
            self.set_status(to, at);
        }
        Ok(Some(self.status_event(previous)))
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
                Ok(Some(self.status_event(from)))
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
        Ok(Some(self.status_event(from)))
    }

    fn join(
        &mut self,
        participant_id: Uuid,
        identity: &Identity,
        role: Role,
        metadata: Option<&Metadata>,
        at: DateTime<Utc>,
    ) -> Result<Recorded, TransitionError> {
        if self.status != StreamStatus::Active {
            return Err(TransitionError::NotActive(self.status));
        }
        match self
            .participants
            .iter_mut()
            .find(|p| &p.identity == identity)
        {
            Some(existing) if existing.is_active() => {
                let metadata_changed = metadata.is_some_and(|m| m != &existing.metadata);
                if existing.role == role && !metadata_changed {
                    return Ok(None);
                }
                existing.role = role;
                if let Some(metadata) = metadata {
                    existing.metadata = metadata.clone();
                }
                Ok(Some(participant_event(
                    EventType::ParticipantUpdated,
                    existing,
                )))
            }
            Some(returning) => {
                returning.role = role;
                returning.sid = None;
                returning.joined_at = at;
                returning.left_at = None;
                if let Some(metadata) = metadata {
                    returning.metadata = metadata.clone();
                }
                Ok(Some(participant_event(
                    EventType::ParticipantJoined,
                    returning,
                )))
            }
            None => {
                let participant = Participant {
                    id: participant_id,
                    identity: identity.clone(),
                    role,
                    sid: None,
                    joined_at: at,
                    left_at: None,
                    metadata: metadata.cloned().unwrap_or_default(),
                    tracks: Vec::new(),
                    media_at: None,
                };
                let event = participant_event(EventType::ParticipantJoined, &participant);
                self.participants.push(participant);
                Ok(Some(event))
            }
        }
    }

    /// Marks `identity` as left. With a `sid` (a LiveKit report), only that media session may
    /// leave: a report about an older session, or older than the newest report applied, must
    /// not remove a newer one.
    fn leave(
        &mut self,
        identity: &Identity,
        sid: Option<&String>,
        reported_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<Recorded, TransitionError> {
        let participant = self
            .participants
            .iter_mut()
            .find(|p| &p.identity == identity)
            .ok_or_else(|| TransitionError::ParticipantNotFound(identity.clone()))?;
        if !participant.is_active() {
            return Ok(None);
        }
        if let (Some(reported), Some(current)) = (sid, participant.sid.as_ref()) {
            if reported != current {
                return Ok(None);
            }
        }
        if is_stale(participant, reported_at) {
            return Ok(None);
        }
        participant.left_at = Some(at);
        participant.tracks.clear();
        if reported_at.is_some() {
            participant.media_at = reported_at;
        }
        Ok(Some(participant_event(
            EventType::ParticipantLeft,
            participant,
        )))
    }

    fn media_room_started(&mut self, at: DateTime<Utc>) -> Recorded {
        if self.status != StreamStatus::Creating {
            return None;
        }
        self.set_status(StreamStatus::Active, at);
        Some(self.status_event(StreamStatus::Creating))
    }

    fn media_room_finished(&mut self, at: DateTime<Utc>) -> Recorded {
        let from = self.status;
        if from == StreamStatus::Stopped || !from.can_become(StreamStatus::Stopped) {
            return None;
        }
        self.set_status(StreamStatus::Stopped, at);
        Some(self.status_event(from))
    }

    fn media_joined(
        &mut self,
        participant_id: Uuid,
        identity: &Identity,
        sid: &str,
        role: Role,
        reported_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Recorded {
        if self.status != StreamStatus::Active {
            return None;
        }
        match self
            .participants
            .iter_mut()
            .find(|p| &p.identity == identity)
        {
            Some(existing) if existing.sid.as_deref() == Some(sid) => None,
            Some(existing) if is_stale(existing, reported_at) => None,
            Some(existing) if existing.is_active() => {
                existing.sid = Some(sid.to_owned());
                existing.tracks.clear();
                existing.media_at = reported_at.or(existing.media_at);
                Some(participant_event(EventType::ParticipantUpdated, existing))
            }
            Some(returning) => {
                returning.sid = Some(sid.to_owned());
                returning.joined_at = at;
                returning.left_at = None;
                returning.tracks.clear();
                returning.media_at = reported_at.or(returning.media_at);
                Some(participant_event(EventType::ParticipantJoined, returning))
            }
            None => {
                let participant = Participant {
                    id: participant_id,
                    identity: identity.clone(),
                    role,
                    sid: Some(sid.to_owned()),
                    joined_at: at,
                    left_at: None,
                    metadata: Metadata::default(),
                    tracks: Vec::new(),
                    media_at: reported_at,
                };
                let event = participant_event(EventType::ParticipantJoined, &participant);
                self.participants.push(participant);
                Some(event)
            }
        }
    }

    fn media_track(
        &mut self,
        identity: &Identity,
        sid: &str,
        track_sid: &str,
        published: bool,
        reported_at: Option<DateTime<Utc>>,
    ) -> Recorded {
        let participant = self
            .participants
            .iter_mut()
            .find(|p| &p.identity == identity && p.is_active() && p.sid.as_deref() == Some(sid))?;
        if is_stale(participant, reported_at) {
            return None;
        }
        let known = participant.tracks.iter().position(|t| t == track_sid);
        match (published, known) {
            (true, None) => participant.tracks.push(track_sid.to_owned()),
            (false, Some(index)) => {
                participant.tracks.remove(index);
            }
            (true, Some(_)) | (false, None) => return None,
        }
        Some(participant_event(
            EventType::ParticipantUpdated,
            participant,
        ))
    }

    fn set_status(&mut self, to: StreamStatus, at: DateTime<Utc>) {
        self.status = to;
        match to {
            StreamStatus::Active => {
                self.started_at.get_or_insert(at);
            }
            StreamStatus::Stopped => {
                self.stopped_at = Some(at);
                // The room is gone, so is everyone in it; stream_stopped says so for all of them.
                for participant in self.participants.iter_mut().filter(|p| p.is_active()) {
                    participant.left_at = Some(at);
                }
            }
            StreamStatus::Creating | StreamStatus::Stopping | StreamStatus::Error => {}
        }
    }

    fn status_event(&self, previous: StreamStatus) -> (EventType, serde_json::Value) {
        let kind = if self.status == StreamStatus::Stopped && previous != StreamStatus::Stopped {
            EventType::StreamStopped
        } else {
            EventType::StreamUpdated
        };
        (
            kind,
            json!({
                "status": self.status,
                "previousStatus": previous,
                "metadata": self.metadata,
                "stoppedAt": self.stopped_at,
            }),
        )
    }
}

/// An event kind and its data, before the aggregate numbers it.
type Recorded = Option<(EventType, serde_json::Value)>;

/// Whether a LiveKit report produced at `reported_at` is older than the newest one already
/// applied to the participant (LiveKit may redeliver late; timestamps are whole seconds, so
/// only strictly older reports are stale).
fn is_stale(participant: &Participant, reported_at: Option<DateTime<Utc>>) -> bool {
    matches!((reported_at, participant.media_at), (Some(reported), Some(newest)) if reported < newest)
}

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

fn participant_event(kind: EventType, participant: &Participant) -> (EventType, serde_json::Value) {
    (kind, json!({ "participant": participant }))
}

#[cfg(test)]
#[path = "change_tests.rs"]
mod tests;
