//! Joining and leaving: [`ParticipantChange`], the atomic changes of ONE participant record, and
//! [`ParticipantChange::decide`], the pure function every store calls to decide them.
//!
//! A participant change reads and writes one participant record (keyed by stream and identity)
//! and the stream's [`Audience`] counters, never the other participants, so
//! its cost does not depend on the size of the audience. Stores apply the decision, the counter
//! delta and the event in one atomic step (the Redis store mirrors this function in a Lua
//! script; the store contract suite holds both to the same behaviour).
//!
//! A stopped stream's records are not rewritten when it stops (that would touch the whole
//! audience): a record still marked present on a stopped stream counts as having left when the
//! stream stopped ([`Participant::as_of`](crate::participant::Participant::as_of)).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::audience::{Audience, AudienceDelta, Presence};
use crate::change::{ChangeContext, TransitionError};
use crate::event::{EventType, StreamEvent};
use crate::participant::{Participant, Role};
use crate::stream::{Stream, StreamStatus};
use crate::values::{Identity, Metadata};

/// One atomic change of one participant of a stream.
#[derive(Debug, Clone, PartialEq)]
pub enum ParticipantChange {
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
}

/// What a participant change does: the record after it, the event kind recording it and how
/// the audience counters move. No decision (`None` from [`ParticipantChange::decide`]) means
/// nothing changes and nothing is recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct ParticipantDecision {
    /// The participant record after the change.
    pub participant: Participant,
    /// The event that records it.
    pub kind: EventType,
    /// How the audience counters move.
    pub delta: AudienceDelta,
    /// Whether the identity joins the stream for the first time (it gets the next place in
    /// the stream's roster).
    pub first_join: bool,
}

/// The outcome of a participant change, as a store reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParticipantApplied {
    /// The participant record after the change (unchanged when nothing was decided; `None`
    /// for a LiveKit report about an identity the stream never knew).
    pub participant: Option<Participant>,
    /// The stream's counters after the change.
    pub audience: Audience,
    /// The one event recording the change, or `None` if nothing changed.
    pub event: Option<StreamEvent>,
}

impl ParticipantChange {
    /// Whether the change reports a track being published.
    pub fn publishes(&self) -> bool {
        matches!(
            self,
            ParticipantChange::MediaTrack {
                published: true,
                ..
            }
        )
    }

    /// Decides the change and numbers its event after `stream.seq`, for a store that holds the
    /// stream and the record under one lock. Returns the outcome and the decision (what the
    /// store writes), if any.
    ///
    /// # Errors
    /// As [`ParticipantChange::decide`].
    pub fn apply(
        &self,
        stream: &Stream,
        current: Option<&Participant>,
        ctx: &ChangeContext,
    ) -> Result<(ParticipantApplied, Option<ParticipantDecision>), TransitionError> {
        let Some(decision) = self.decide(current, stream.status, ctx.at)? else {
            let unchanged = ParticipantApplied {
                participant: current.cloned(),
                audience: stream.audience,
                event: None,
            };
            return Ok((unchanged, None));
        };
        let audience = stream.audience.moved(decision.delta);
        let event = StreamEvent::for_participant(
            stream.id,
            stream.seq + 1,
            decision.kind,
            &decision.participant,
            audience,
            ctx,
        );
        let applied = ParticipantApplied {
            participant: Some(decision.participant.clone()),
            audience,
            event: Some(event),
        };
        Ok((applied, Some(decision)))
    }

    /// The participant the change is about.
    pub fn identity(&self) -> &Identity {
        match self {
            ParticipantChange::Join { identity, .. }
            | ParticipantChange::Leave { identity }
            | ParticipantChange::MediaJoined { identity, .. }
            | ParticipantChange::MediaLeft { identity, .. }
            | ParticipantChange::MediaTrack { identity, .. } => identity,
        }
    }

    /// Decides the change on the participant's `current` record in a stream whose status is
    /// `status`, at `at`. Joining while present with the same role and metadata, leaving while
    /// gone, and LiveKit reports that are stale or about another session decide nothing.
    ///
    /// # Errors
    /// [`TransitionError::NotActive`] for an API join on a stream that is not active,
    /// [`TransitionError::ParticipantNotFound`] for an API leave of an identity that never
    /// joined.
    pub fn decide(
        &self,
        current: Option<&Participant>,
        status: StreamStatus,
        at: DateTime<Utc>,
    ) -> Result<Option<ParticipantDecision>, TransitionError> {
        // On a stopped stream everyone has left, whatever the record says.
        let present = current.filter(|p| p.is_active() && status != StreamStatus::Stopped);
        match self {
            ParticipantChange::Join {
                participant_id,
                identity,
                role,
                metadata,
            } => {
                if status != StreamStatus::Active {
                    return Err(TransitionError::NotActive(status));
                }
                Ok(join(
                    current,
                    present,
                    *participant_id,
                    identity,
                    *role,
                    metadata.as_ref(),
                    at,
                ))
            }
            ParticipantChange::Leave { identity } => {
                if current.is_none() {
                    return Err(TransitionError::ParticipantNotFound(identity.clone()));
                }
                Ok(present.and_then(|p| leave(p, None, None, at)))
            }
            ParticipantChange::MediaJoined {
                participant_id,
                identity,
                sid,
                role,
                reported_at,
            } => Ok((status == StreamStatus::Active)
                .then(|| {
                    media_joined(
                        current,
                        *participant_id,
                        identity,
                        sid,
                        *role,
                        *reported_at,
                        at,
                    )
                })
                .flatten()),
            // LiveKit may report people we never heard of (joined before a webhook loss).
            ParticipantChange::MediaLeft {
                sid, reported_at, ..
            } => Ok(present.and_then(|p| leave(p, Some(sid), *reported_at, at))),
            ParticipantChange::MediaTrack {
                sid,
                track_sid,
                published,
                reported_at,
                ..
            } => Ok(present.and_then(|p| track(p, sid, track_sid, *published, *reported_at))),
        }
    }
}

fn decision(
    before: Option<&Participant>,
    participant: Participant,
    kind: EventType,
    first_join: bool,
) -> ParticipantDecision {
    let presence = |p: &Participant| {
        p.is_active().then_some(Presence {
            role: p.role,
            connected: p.sid.is_some(),
        })
    };
    ParticipantDecision {
        delta: AudienceDelta::between(
            before.and_then(presence),
            presence(&participant),
            first_join,
        ),
        participant,
        kind,
        first_join,
    }
}

fn join(
    current: Option<&Participant>,
    present: Option<&Participant>,
    participant_id: Uuid,
    identity: &Identity,
    role: Role,
    metadata: Option<&Metadata>,
    at: DateTime<Utc>,
) -> Option<ParticipantDecision> {
    if let Some(existing) = present {
        let metadata_changed = metadata.is_some_and(|m| m != &existing.metadata);
        if existing.role == role && !metadata_changed {
            return None;
        }
        let mut next = existing.clone();
        next.role = role;
        if let Some(metadata) = metadata {
            next.metadata = metadata.clone();
        }
        return Some(decision(
            present,
            next,
            EventType::ParticipantUpdated,
            false,
        ));
    }
    let next = match current {
        Some(returning) => Participant {
            role,
            sid: None,
            joined_at: at,
            left_at: None,
            metadata: metadata
                .cloned()
                .unwrap_or_else(|| returning.metadata.clone()),
            ..returning.clone()
        },
        None => Participant::new(participant_id, identity.clone(), role, at)
            .with_metadata(metadata.cloned().unwrap_or_default()),
    };
    Some(decision(
        None,
        next,
        EventType::ParticipantJoined,
        current.is_none(),
    ))
}

/// Marks a present participant as left. With a `sid` (a LiveKit report), only that media
/// session may leave: a report about an older session, or older than the newest report
/// applied, must not remove a newer one.
fn leave(
    present: &Participant,
    sid: Option<&String>,
    reported_at: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> Option<ParticipantDecision> {
    if let (Some(reported), Some(current)) = (sid, present.sid.as_ref()) {
        if reported != current {
            return None;
        }
    }
    if is_stale(present, reported_at) {
        return None;
    }
    let mut next = present.clone();
    next.left_at = Some(at);
    next.tracks.clear();
    if reported_at.is_some() {
        next.media_at = reported_at;
    }
    Some(decision(
        Some(present),
        next,
        EventType::ParticipantLeft,
        false,
    ))
}

fn media_joined(
    current: Option<&Participant>,
    participant_id: Uuid,
    identity: &Identity,
    sid: &str,
    role: Role,
    reported_at: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> Option<ParticipantDecision> {
    let Some(existing) = current else {
        let mut next = Participant::new(participant_id, identity.clone(), role, at);
        next.sid = Some(sid.to_owned());
        next.media_at = reported_at;
        return Some(decision(None, next, EventType::ParticipantJoined, true));
    };
    if existing.sid.as_deref() == Some(sid) || is_stale(existing, reported_at) {
        return None;
    }
    let mut next = existing.clone();
    next.sid = Some(sid.to_owned());
    next.tracks.clear();
    next.media_at = reported_at.or(existing.media_at);
    if existing.is_active() {
        return Some(decision(
            current,
            next,
            EventType::ParticipantUpdated,
            false,
        ));
    }
    next.joined_at = at;
    next.left_at = None;
    Some(decision(current, next, EventType::ParticipantJoined, false))
}

fn track(
    present: &Participant,
    sid: &str,
    track_sid: &str,
    published: bool,
    reported_at: Option<DateTime<Utc>>,
) -> Option<ParticipantDecision> {
    if present.sid.as_deref() != Some(sid) || is_stale(present, reported_at) {
        return None;
    }
    let mut next = present.clone();
    let known = next.tracks.iter().position(|t| t == track_sid);
    match (published, known) {
        (true, None) => next.tracks.push(track_sid.to_owned()),
        (false, Some(index)) => {
            next.tracks.remove(index);
        }
        (true, Some(_)) | (false, None) => return None,
    }
    Some(decision(
        Some(present),
        next,
        EventType::ParticipantUpdated,
        false,
    ))
}

/// Whether a LiveKit report produced at `reported_at` is older than the newest one already
/// applied to the participant (LiveKit may redeliver late; timestamps are whole seconds, so
/// only strictly older reports are stale).
fn is_stale(participant: &Participant, reported_at: Option<DateTime<Utc>>) -> bool {
    matches!((reported_at, participant.media_at), (Some(reported), Some(newest)) if reported < newest)
}

#[cfg(test)]
#[path = "membership_tests.rs"]
mod tests;
