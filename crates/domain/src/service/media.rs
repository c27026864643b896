//! What LiveKit reports: verified webhooks applied to the stream of their room, and
//! reconciling a stream with its room when webhooks were lost.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::broadcast::{EgressReport, IngressReport};
use crate::change::{Change, TransitionError};
use crate::error::StreamError;
use crate::event::StreamEvent;
use crate::membership::ParticipantChange;
use crate::participant::Role;
use crate::ports::{ApplyError, MediaParticipant, ParticipantQuery};
use crate::stream::{Stream, StreamStatus};
use crate::values::{Identity, RoomName, StreamId};

use super::{list_error, StreamService};

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
#[non_exhaustive]
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
        /// Its status as LiveKit names it (`EGRESS_ACTIVE`, …), for an egress started
        /// elsewhere (recorded on the stream as reported).
        status: String,
        /// What it reports, for the output that owns it.
        report: EgressReport,
    },
    /// `ingress_started` / `ingress_ended`.
    Ingress {
        /// Its status as LiveKit names it (`ENDPOINT_PUBLISHING`, …), for an ingress created
        /// elsewhere.
        status: String,
        /// What it reports, for the stream's ingest.
        report: IngressReport,
    },
}

/// What a [`MediaEvent`] did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MediaEventOutcome {
    /// It changed a stream; here is the event.
    Applied(StreamEvent),
    /// It matched a stream but changed nothing (already known, or stale).
    NoChange,
    /// No live stream uses the room (or the room is an older one of the same name).
    UnknownRoom,
}

impl StreamService {
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
        // An egress or an ingress may report after its stream stopped (a recording finishing):
        // the room's last stream is the one it belongs to.
        let reports_broadcast = matches!(
            event.kind,
            MediaEventKind::Egress { .. } | MediaEventKind::Ingress { .. }
        );
        let found = if reports_broadcast {
            self.ports.streams.find_latest_by_room(&room).await?
        } else {
            self.ports.streams.find_live_by_room(&room).await?
        };
        let Some(stream) = found else {
            return Ok(MediaEventOutcome::UnknownRoom);
        };
        if let Some(ours) = &stream.room_sid {
            if !event.room_sid.is_empty() && *ours != event.room_sid {
                return Ok(MediaEventOutcome::UnknownRoom);
            }
        }
        if let Some(outcome) = self.broadcast_report(&stream, &event.kind).await? {
            return Ok(outcome);
        }
        // A signed report from the future (a skewed or forged clock) must not make genuine
        // later reports look stale: it counts as made now, to the whole second, as LiveKit
        // dates its reports (`createdAt` in seconds): a genuine report of this same second is
        // then not older than it.
        let now = self.ports.clock.now();
        let this_second = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
        let reported_at = event.reported_at.map(|at| at.min(this_second));
        let outcome = match self.media_change(event.kind, reported_at) {
            None => return Ok(MediaEventOutcome::NoChange),
            Some(MediaChange::Stream(change)) => self
                .ports
                .streams
                .apply(stream.id, change, self.context())
                .await
                .map(|applied| Effects {
                    stopped: applied.stream.is_stopped().then(|| applied.stream.clone()),
                    event: applied.event,
                    live: false,
                }),
            Some(MediaChange::Participant(change)) => {
                let publishes = change.publishes();
                self.ports
                    .streams
                    .apply_participant(stream.id, change, self.context())
                    .await
                    .map(|applied| Effects {
                        live: publishes
                            && applied.event.is_some()
                            && applied.participant.is_some_and(|p| p.role == Role::Host),
                        event: applied.event,
                        stopped: None,
                    })
            }
        };
        let effects = match outcome {
            Ok(effects) => effects,
            Err(ApplyError::Rejected(_)) => return Ok(MediaEventOutcome::NoChange),
            Err(ApplyError::NotFound) => return Ok(MediaEventOutcome::UnknownRoom),
            Err(ApplyError::Store(err)) => return Err(err.into()),
        };
        if let Some(stopped) = &effects.stopped {
            self.stop_broadcast(stopped).await;
        }
        if effects.live {
            // The first host publishes: outputs that start with the stream start.
            self.went_live(&stream).await?;
        }
        Ok(effects
            .event
            .map_or(MediaEventOutcome::NoChange, MediaEventOutcome::Applied))
    }

    /// Applies an egress or ingress report to the output or ingest it belongs to; `None` when
    /// it is not a report of ours (one started elsewhere is recorded on the stream instead).
    async fn broadcast_report(
        &self,
        stream: &Stream,
        kind: &MediaEventKind,
    ) -> Result<Option<MediaEventOutcome>, StreamError> {
        let events = match kind {
            MediaEventKind::Egress { report, .. } => {
                self.apply_egress_report(stream, report.clone()).await?
            }
            MediaEventKind::Ingress { report, .. } => {
                self.apply_ingress_report(stream, report.clone()).await?
            }
            MediaEventKind::RoomStarted
            | MediaEventKind::RoomFinished
            | MediaEventKind::ParticipantJoined { .. }
            | MediaEventKind::ParticipantLeft { .. }
            | MediaEventKind::Track { .. } => None,
        };
        Ok(events.map(|events| {
            events
                .into_iter()
                .next()
                .map_or(MediaEventOutcome::NoChange, MediaEventOutcome::Applied)
        }))
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
            MediaEventKind::Egress { status, report } => MediaChange::Stream(Change::MediaEgress {
                egress_id: report.egress_id,
                status,
            }),
            MediaEventKind::Ingress { status, report } => {
                MediaChange::Stream(Change::MediaIngress {
                    ingress_id: report.ingress_id,
                    status,
                })
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
                Ok(applied) => {
                    if applied.stream.is_stopped() {
                        self.stop_broadcast(&applied.stream).await;
                    }
                    Ok(applied.event.into_iter().collect())
                }
                // Something newer won the race (a webhook, a stop): nothing to heal any more.
                Err(StreamError::Rejected(
                    TransitionError::InvalidTransition { .. } | TransitionError::NotActive(_),
                )) => Ok(Vec::new()),
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
                Err(StreamError::Rejected(
                    TransitionError::NotActive(_) | TransitionError::ParticipantNotFound(_),
                )) => {}
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
}

/// Participants read per store round trip while reconciling a stream.
const RECONCILE_PAGE: usize = 1000;

/// What applying a LiveKit report did beyond its event.
struct Effects {
    event: Option<StreamEvent>,
    /// The stream, when the report stopped it (its outputs and ingest stop too).
    stopped: Option<Stream>,
    /// A host started publishing: the stream is live.
    live: bool,
}

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
