//! Everything the emulator holds behind one lock: rooms, ingresses, egresses and the faults
//! a test asked for, and the operations that touch more than one of them.
//!
//! LiveKit's ingress and egress workers are separate processes that react to what happens
//! in rooms. The emulator plays them in the same critical section as the change they react
//! to ([`World::follow_up`]), so webhooks keep the order of changes. What a worker would do
//! later by itself is returned as [`Timer`]s for the caller to schedule.

use std::time::Duration;

use livekit_protocol as proto;

use crate::config::BroadcastLimits;
use crate::egress::{Egresses, Next, StartRequest};
use crate::ingress::{
    ingress_participant, ingress_tracks, Admission, Ending, IngressUrls, Ingresses, Session,
    ROOM_DISCONNECTED,
};
use crate::state::{Event, RoomSpec, Rooms};
use crate::{EmulatorConfig, EmulatorError};

/// LiveKit's answer when no egress worker takes a start request.
const NO_EGRESS_RESPONSE: &str = "no response from egress service";
/// Reason used when a test asks egress starts to fail without giving one.
const DEFAULT_START_FAILURE: &str = "egress failed to start";

/// The webhooks and timed steps one change produced.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    pub events: Vec<Event>,
    pub timers: Vec<Timer>,
}

/// A step a media worker takes by itself after a delay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Timer {
    pub after: Duration,
    pub step: Step,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// The egress pipeline is up (or fails, if its start was doomed).
    ActivateEgress(String),
    /// The egress has finalised its outputs.
    CompleteEgress(String),
    /// A URL ingress has buffered enough to publish.
    PublishPulledIngress(String),
}

/// Failures a test asked for, consumed one start at a time.
#[derive(Debug, Default)]
struct Faults {
    refuse_starts: u32,
    fail_starts: u32,
    fail_reason: String,
}

/// The emulator's whole state.
#[derive(Debug)]
pub(crate) struct World {
    pub rooms: Rooms,
    pub ingresses: Ingresses,
    pub egresses: Egresses,
    faults: Faults,
    limits: BroadcastLimits,
    egress_start_delay: Duration,
    egress_end_delay: Duration,
    url_ingress_start_delay: Duration,
}

impl World {
    pub fn new(config: &EmulatorConfig) -> Self {
        Self {
            rooms: Rooms::default(),
            ingresses: Ingresses::default(),
            egresses: Egresses::default(),
            faults: Faults::default(),
            limits: config.limits.clone(),
            egress_start_delay: config.egress_start_delay,
            egress_end_delay: config.egress_end_delay,
            url_ingress_start_delay: config.url_ingress_start_delay,
        }
    }

    /// Plays the ingress and egress workers' reactions to the room events of a change: an
    /// ingress whose participant left the room fails ("room disconnected"), and the egresses
    /// of a closed room end.
    pub fn follow_up(&mut self, fx: &mut Effects) {
        let mut index = 0;
        while let Some(event) = fx.events.get(index) {
            index += 1;
            match event.name {
                "participant_left" => {
                    let ingress_kind = proto::participant_info::Kind::Ingress as i32;
                    let Some(sid) = event
                        .participant
                        .as_ref()
                        .filter(|p| p.kind == ingress_kind)
                        .map(|p| p.sid.clone())
                    else {
                        continue;
                    };
                    if let Some(id) = self.ingresses.id_for_participant(&sid) {
                        let failed = Ending::Failed(ROOM_DISCONNECTED.into());
                        let _ = self.ingresses.end(&id, failed, &mut fx.events);
                    }
                }
                "room_finished" => {
                    let sid = event.room.sid.clone();
                    for id in self.egresses.end_room(&sid, &self.limits, &mut fx.events) {
                        fx.timers.push(self.complete_later(id));
                    }
                }
                _ => {}
            }
        }
    }

    /// Applies a timed step; a step overtaken by another change does nothing.
    pub fn take_step(&mut self, step: Step, fx: &mut Effects) {
        match step {
            Step::ActivateEgress(id) => self.egresses.activate(&id, &self.limits, &mut fx.events),
            Step::CompleteEgress(id) => self.egresses.complete(&id, &self.limits, &mut fx.events),
            Step::PublishPulledIngress(id) => {
                // Already publishing, ended or deleted meanwhile: nothing to do.
                let _ = self.publish_encoder(&id, fx);
            }
        }
    }

    pub fn create_ingress(
        &mut self,
        req: proto::CreateIngressRequest,
        urls: &IngressUrls,
        fx: &mut Effects,
    ) -> Result<proto::IngressInfo, EmulatorError> {
        let info = self.ingresses.create(req, urls, &self.limits)?;
        if !info.reusable {
            fx.timers.push(Timer {
                after: self.url_ingress_start_delay,
                step: Step::PublishPulledIngress(info.ingress_id.clone()),
            });
        }
        Ok(info)
    }

    pub fn update_ingress(
        &mut self,
        req: proto::UpdateIngressRequest,
        fx: &mut Effects,
    ) -> Result<proto::IngressInfo, EmulatorError> {
        self.ingresses.update(req, &self.limits, &mut fx.events)
    }

    /// DeleteIngress: the record goes first, so the encoder's session closing afterwards
    /// finds no ingress to report on (LiveKit sends no `ingress_ended` for it either).
    pub fn delete_ingress(
        &mut self,
        id: &str,
        fx: &mut Effects,
    ) -> Result<proto::IngressInfo, EmulatorError> {
        let (info, session) = self.ingresses.delete(id)?;
        if let Some(session) = session {
            self.close_session(&session, fx);
        }
        Ok(info)
    }

    /// A simulated encoder connects: the ingress joins its room as a participant, publishes
    /// an audio and a video track, and becomes `ENDPOINT_PUBLISHING`.
    pub fn publish_encoder(
        &mut self,
        id: &str,
        fx: &mut Effects,
    ) -> Result<proto::IngressInfo, EmulatorError> {
        let info = match self.ingresses.admit(id)? {
            Admission::Ready(info) => info,
            Admission::Refused(error) => {
                self.ingresses.record_refusal(id, &error, &mut fx.events);
                return Err(error);
            }
        };
        let spec = RoomSpec {
            name: info.room_name.clone(),
            ..Default::default()
        };
        let participant = match self
            .rooms
            .join(spec, ingress_participant(&info), &mut fx.events)
        {
            Ok(participant) => participant,
            Err(error) => {
                self.ingresses.record_refusal(id, &error, &mut fx.events);
                return Err(error);
            }
        };
        let mut tracks = Vec::new();
        for track in ingress_tracks(&info) {
            tracks.push(self.rooms.publish_track(
                &info.room_name,
                &participant.identity,
                track,
                &mut fx.events,
            )?);
        }
        let room_sid = self
            .rooms
            .get(&info.room_name)
            .map(|r| r.sid.clone())
            .unwrap_or_default();
        let session = Session {
            room: info.room_name.clone(),
            identity: participant.identity,
            participant_sid: participant.sid,
        };
        self.ingresses
            .mark_publishing(id, session, &room_sid, tracks, &mut fx.events)
    }

    /// Publishes through whichever ingress owns `stream_key`; unknown and rotated keys are
    /// refused like LiveKit's RTMP/WHIP endpoints refuse them.
    pub fn publish_with_key(
        &mut self,
        stream_key: &str,
        fx: &mut Effects,
    ) -> Result<proto::IngressInfo, EmulatorError> {
        let id = self.ingresses.id_for_key(stream_key).ok_or_else(|| {
            EmulatorError::PermissionDenied("no ingress has this stream key".into())
        })?;
        self.publish_encoder(&id, fx)
    }

    /// The encoder stops (`Stopped`) or fails: its participant leaves, then the ingress ends.
    pub fn end_encoder(
        &mut self,
        id: &str,
        ending: Ending,
        fx: &mut Effects,
    ) -> Result<proto::IngressInfo, EmulatorError> {
        if let Some(session) = self.ingresses.session(id)? {
            self.close_session(&session, fx);
        }
        self.ingresses.end(id, ending, &mut fx.events)
    }

    /// Start*Egress: the room must exist, then the (simulated) egress service answers.
    pub fn start_egress(
        &mut self,
        request: StartRequest,
        fx: &mut Effects,
    ) -> Result<proto::EgressInfo, EmulatorError> {
        let room =
            match request.room_name() {
                "" if matches!(request, StartRequest::Web(_)) => None,
                name => Some(self.rooms.get(name).cloned().ok_or_else(|| {
                    EmulatorError::NotFound("requested room does not exist".into())
                })?),
            };
        if self.faults.refuse_starts > 0 {
            self.faults.refuse_starts -= 1;
            return Err(EmulatorError::Unavailable(NO_EGRESS_RESPONSE.into()));
        }
        let doomed = (self.faults.fail_starts > 0).then(|| self.faults.fail_reason.clone());
        let info =
            self.egresses
                .start(request, room.as_ref(), doomed, &self.limits, &mut fx.events)?;
        if self.faults.fail_starts > 0 {
            self.faults.fail_starts -= 1;
        }
        fx.timers.push(Timer {
            after: self.egress_start_delay,
            step: Step::ActivateEgress(info.egress_id.clone()),
        });
        Ok(info)
    }

    pub fn stop_egress(
        &mut self,
        id: &str,
        fx: &mut Effects,
    ) -> Result<proto::EgressInfo, EmulatorError> {
        let (info, next) = self.egresses.stop(id, &self.limits, &mut fx.events)?;
        self.schedule(next, &info, fx);
        Ok(info)
    }

    pub fn update_stream(
        &mut self,
        req: &proto::UpdateStreamRequest,
        fx: &mut Effects,
    ) -> Result<proto::EgressInfo, EmulatorError> {
        let (info, next) = self
            .egresses
            .update_stream(req, &self.limits, &mut fx.events)?;
        self.schedule(next, &info, fx);
        Ok(info)
    }

    pub fn fail_egress(
        &mut self,
        id: &str,
        reason: &str,
        fx: &mut Effects,
    ) -> Result<proto::EgressInfo, EmulatorError> {
        self.egresses.fail(id, reason, &self.limits, &mut fx.events)
    }

    /// The next `count` egress starts are created, then fail with `reason` instead of going
    /// live.
    pub fn fail_next_starts(&mut self, count: u32, reason: &str) {
        self.faults.fail_starts = count;
        self.faults.fail_reason = if reason.trim().is_empty() {
            DEFAULT_START_FAILURE.to_owned()
        } else {
            reason.to_owned()
        };
    }

    /// The next `count` egress starts are answered `unavailable` and create nothing.
    pub fn refuse_next_starts(&mut self, count: u32) {
        self.faults.refuse_starts = count;
    }

    fn schedule(&self, next: Next, info: &proto::EgressInfo, fx: &mut Effects) {
        match next {
            Next::Complete => fx.timers.push(self.complete_later(info.egress_id.clone())),
            Next::Nothing => {}
        }
    }

    fn complete_later(&self, id: String) -> Timer {
        Timer {
            after: self.egress_end_delay,
            step: Step::CompleteEgress(id),
        }
    }

    /// The encoder's participant leaves, if it is still the one in the room.
    fn close_session(&mut self, session: &Session, fx: &mut Effects) {
        let still_there = self
            .rooms
            .participant(&session.room, &session.identity)
            .is_ok_and(|p| p.sid == session.participant_sid);
        if still_there {
            let _ = self.rooms.leave(
                &session.room,
                &session.identity,
                proto::DisconnectReason::ClientInitiated,
                &mut fx.events,
            );
        }
    }
}
