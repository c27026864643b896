//! In-memory egresses: LiveKit's Egress records and their state machine.
//!
//! Pure bookkeeping like `state`: changes report their webhooks as [`Event`]s, and the
//! caller schedules the timed steps (`STARTING → ACTIVE`, `ENDING → COMPLETE`) that an egress
//! worker would take by itself.
//!
//! The machine is LiveKit's: an egress starts `EGRESS_STARTING`, becomes `EGRESS_ACTIVE`
//! when its pipeline runs, `EGRESS_ENDING` when asked to stop (or when its room closes, or
//! its last stream is removed), then `EGRESS_COMPLETE`; a failure makes it `EGRESS_FAILED`
//! and a stop before it started `EGRESS_ABORTED`. Webhooks follow LiveKit's IO service:
//! `egress_started` when it is created, `egress_updated` for `ACTIVE` and `ENDING` (and
//! stream changes while active), `egress_ended` for every final state.

mod files;
mod outputs;
mod redact;
mod request;

use std::collections::{BTreeMap, HashMap, VecDeque};

use livekit_protocol as proto;
use proto::EgressStatus as Status;

use self::files::Naming;
use self::outputs::Outputs;
pub(crate) use self::request::StartRequest;
use crate::config::BroadcastLimits;
use crate::state::{new_id, now_ns, Event};
use crate::EmulatorError;

/// LiveKit's message for an egress stopped before its pipeline started.
const STOPPED_BEFORE_STARTED: &str = "Stop called before pipeline could start";
/// LiveKit's end reasons, reported as `details`.
const END_API: &str = "End reason: StopEgress API";
const END_SOURCE_CLOSED: &str = "End reason: Source closed";
const END_STREAMS_STOPPED: &str = "End reason: All streams stopped";
const END_FAILURE: &str = "End reason: Failure";

/// What the caller must schedule after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Next {
    /// Nothing more happens by itself.
    #[default]
    Nothing,
    /// The egress is ending: it completes after the end delay.
    Complete,
}

#[derive(Debug)]
struct Entry {
    info: proto::EgressInfo,
    /// Creation order, so listings are stable.
    seq: u64,
    outputs: Outputs,
    /// Set when the start was told to fail: the reason it fails with instead of going live.
    doomed: Option<String>,
}

impl Entry {
    fn status(&self) -> Status {
        Status::try_from(self.info.status).unwrap_or(Status::EgressStarting)
    }

    fn set_status(&mut self, status: Status, now: i64) {
        self.info.status = status as i32;
        self.info.updated_at = now;
    }

    fn report(&mut self) {
        self.outputs.report(&mut self.info);
    }
}

/// All egresses of one emulator, and how many were started per room.
#[derive(Debug, Default)]
pub(crate) struct Egresses {
    entries: HashMap<String, Entry>,
    next_seq: u64,
    /// Ended egresses, oldest first, so the oldest are forgotten first.
    ended: VecDeque<String>,
    /// Room name → (egresses started, when the counter was created).
    starts: BTreeMap<String, (u64, u64)>,
}

impl Egresses {
    /// Creates an egress in `EGRESS_STARTING` (`egress_started`). `room` is the room it
    /// records (none for a web egress); `doomed` makes it fail instead of going live.
    pub fn start(
        &mut self,
        request: StartRequest,
        room: Option<&proto::Room>,
        doomed: Option<String>,
        limits: &BroadcastLimits,
        events: &mut Vec<Event>,
    ) -> Result<proto::EgressInfo, EmulatorError> {
        request.check()?;
        let room_name = room.map(|r| r.name.clone()).unwrap_or_default();
        self.check_capacity(&room_name, limits)?;
        let now = now_ns();
        let naming = Naming {
            room_name: room_name.clone(),
            room_id: room.map(|r| r.sid.clone()).unwrap_or_default(),
            started_at_ns: now,
            audio_only: request.audio_only(),
            video: !request.audio_only(),
        };
        let outputs = Outputs::check(
            request.outputs(),
            &naming,
            limits.max_stream_urls_per_egress,
        )?;
        let mut entry = Entry {
            info: proto::EgressInfo {
                egress_id: self.fresh_id(),
                room_id: naming.room_id,
                room_name: room_name.clone(),
                source_type: request.source_type() as i32,
                status: Status::EgressStarting as i32,
                started_at: now,
                updated_at: now,
                request: Some(request.echoed()),
                ..Default::default()
            },
            seq: self.next_seq,
            outputs,
            doomed,
        };
        self.next_seq += 1;
        entry.report();
        let info = entry.info.clone();
        events.push(Event::egress("egress_started", &info));
        self.entries.insert(info.egress_id.clone(), entry);
        self.count_start(&room_name, limits);
        Ok(info)
    }

    /// The pipeline is up: `STARTING → ACTIVE`, or `FAILED` for a doomed start. Anything
    /// else (stopped or failed meanwhile) is left alone.
    pub fn activate(&mut self, id: &str, limits: &BroadcastLimits, events: &mut Vec<Event>) {
        let Some(entry) = self.entries.get_mut(id) else {
            return;
        };
        if entry.status() != Status::EgressStarting {
            return;
        }
        if let Some(reason) = entry.doomed.take() {
            fail_entry(entry, &reason, events);
            self.retire(id, limits);
            return;
        }
        let now = now_ns();
        entry.set_status(Status::EgressActive, now);
        entry.outputs.start(now);
        entry.report();
        events.push(Event::egress("egress_updated", &entry.info));
    }

    /// StopEgress: a starting egress is aborted, an active one starts ending, an ending one
    /// is answered as it is; an ended one cannot be stopped.
    pub fn stop(
        &mut self,
        id: &str,
        limits: &BroadcastLimits,
        events: &mut Vec<Event>,
    ) -> Result<(proto::EgressInfo, Next), EmulatorError> {
        let entry = self.entry_mut(id)?;
        let next = match entry.status() {
            Status::EgressStarting => {
                abort_entry(entry, END_API, events);
                let info = entry.info.clone();
                self.retire(id, limits);
                return Ok((info, Next::Nothing));
            }
            Status::EgressActive => begin_ending(entry, END_API, events),
            Status::EgressEnding => Next::Nothing,
            status @ (Status::EgressComplete
            | Status::EgressFailed
            | Status::EgressAborted
            | Status::EgressLimitReached) => {
                return Err(EmulatorError::FailedPrecondition(format!(
                    "egress with status {} cannot be stopped",
                    status.as_str_name()
                )))
            }
        };
        Ok((entry.info.clone(), next))
    }

    /// The worker finished: `ENDING → COMPLETE` with the final results.
    pub fn complete(&mut self, id: &str, limits: &BroadcastLimits, events: &mut Vec<Event>) {
        let Some(entry) = self.entries.get_mut(id) else {
            return;
        };
        if entry.status() != Status::EgressEnding {
            return;
        }
        let now = now_ns();
        entry.set_status(Status::EgressComplete, now);
        entry.info.ended_at = now;
        entry.outputs.finish(now);
        entry.report();
        events.push(Event::egress("egress_ended", &entry.info));
        self.retire(id, limits);
    }

    /// The egress fails with `reason` (simulated worker failure).
    pub fn fail(
        &mut self,
        id: &str,
        reason: &str,
        limits: &BroadcastLimits,
        events: &mut Vec<Event>,
    ) -> Result<proto::EgressInfo, EmulatorError> {
        let entry = self.entry_mut(id)?;
        if is_final(entry.status()) {
            return Err(EmulatorError::FailedPrecondition(format!(
                "egress with status {} cannot fail",
                entry.status().as_str_name()
            )));
        }
        fail_entry(entry, reason, events);
        let info = entry.info.clone();
        self.retire(id, limits);
        Ok(info)
    }

    /// UpdateStream: adds and removes stream URLs of a starting or active egress. Removing
    /// the last output ends the egress, as LiveKit does.
    pub fn update_stream(
        &mut self,
        req: &proto::UpdateStreamRequest,
        limits: &BroadcastLimits,
        events: &mut Vec<Event>,
    ) -> Result<(proto::EgressInfo, Next), EmulatorError> {
        let entry = self.entry_mut(&req.egress_id)?;
        let status = entry.status();
        if !matches!(status, Status::EgressStarting | Status::EgressActive) {
            return Err(EmulatorError::FailedPrecondition(format!(
                "egress with status {} cannot be updated",
                status.as_str_name()
            )));
        }
        if !entry.outputs.streaming {
            return Err(EmulatorError::InvalidArgument(
                "UpdateStream called on non-streaming egress".into(),
            ));
        }
        let now = now_ns();
        let started_at = if status == Status::EgressActive {
            now
        } else {
            0
        };
        let kind = entry.outputs.stream_kind();
        // All-or-nothing: a bad URL leaves the egress as it was.
        let mut outputs = entry.outputs.clone();
        for url in &req.add_output_urls {
            outputs.add_stream(url, kind, limits.max_stream_urls_per_egress, started_at)?;
        }
        for url in &req.remove_output_urls {
            outputs.finish_stream(url, now)?;
        }
        entry.outputs = outputs;
        entry.info.updated_at = now;
        entry.report();
        let next = if entry.outputs.count() == 0 && status == Status::EgressActive {
            begin_ending(entry, END_STREAMS_STOPPED, events)
        } else if entry.outputs.count() == 0 {
            abort_entry(entry, END_STREAMS_STOPPED, events);
            Next::Nothing
        } else {
            if status == Status::EgressActive {
                events.push(Event::egress("egress_updated", &entry.info));
            }
            Next::Nothing
        };
        let info = entry.info.clone();
        if is_final(Status::try_from(info.status).unwrap_or(Status::EgressStarting)) {
            self.retire(&info.egress_id, limits);
        }
        Ok((info, next))
    }

    /// The room `room_sid` closed: its starting egresses are aborted and its active ones
    /// end. Returns the egresses now ending.
    pub fn end_room(
        &mut self,
        room_sid: &str,
        limits: &BroadcastLimits,
        events: &mut Vec<Event>,
    ) -> Vec<String> {
        let mut ids: Vec<(u64, String)> = self
            .entries
            .values()
            .filter(|e| e.info.room_id == room_sid && !room_sid.is_empty())
            .map(|e| (e.seq, e.info.egress_id.clone()))
            .collect();
        ids.sort();
        let mut ending = Vec::new();
        for (_, id) in ids {
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            match entry.status() {
                Status::EgressStarting => {
                    abort_entry(entry, END_SOURCE_CLOSED, events);
                    self.retire(&id, limits);
                }
                Status::EgressActive => {
                    begin_ending(entry, END_SOURCE_CLOSED, events);
                    ending.push(id);
                }
                Status::EgressEnding
                | Status::EgressComplete
                | Status::EgressFailed
                | Status::EgressAborted
                | Status::EgressLimitReached => {}
            }
        }
        ending
    }

    /// ListEgress: one by id (which must exist), else all or one room's, optionally only
    /// those not yet ended.
    pub fn list(
        &self,
        room: &str,
        id: &str,
        active: bool,
    ) -> Result<Vec<proto::EgressInfo>, EmulatorError> {
        if !id.is_empty() {
            return Ok(vec![self.entry(id)?.info.clone()]);
        }
        let mut found: Vec<&Entry> = self
            .entries
            .values()
            .filter(|e| room.is_empty() || e.info.room_name == room)
            .filter(|e| !active || !is_final(e.status()))
            .collect();
        found.sort_by_key(|e| e.seq);
        Ok(found.into_iter().map(|e| e.info.clone()).collect())
    }

    /// How many egresses were started for `room`.
    pub fn starts(&self, room: &str) -> u64 {
        self.starts.get(room).map_or(0, |(count, _)| *count)
    }

    fn count_start(&mut self, room: &str, limits: &BroadcastLimits) {
        if room.is_empty() {
            return;
        }
        let seq = self.next_seq;
        self.starts.entry(room.to_owned()).or_insert((0, seq)).0 += 1;
        while self.starts.len() > limits.max_counted_rooms.max(1) {
            let oldest = self
                .starts
                .iter()
                .min_by_key(|(_, (_, created))| *created)
                .map(|(room, _)| room.clone());
            match oldest {
                Some(room) => self.starts.remove(&room),
                None => break,
            };
        }
    }

    fn check_capacity(&self, room: &str, limits: &BroadcastLimits) -> Result<(), EmulatorError> {
        let live: Vec<&Entry> = self
            .entries
            .values()
            .filter(|e| !is_final(e.status()))
            .collect();
        if live.len() >= limits.max_active_egresses {
            return Err(EmulatorError::ResourceExhausted(format!(
                "too many active egresses (limit {})",
                limits.max_active_egresses
            )));
        }
        let in_room = live
            .iter()
            .filter(|e| !room.is_empty() && e.info.room_name == room)
            .count();
        if in_room >= limits.max_active_egresses_per_room {
            return Err(EmulatorError::ResourceExhausted(format!(
                "too many active egresses in room {room:?} (limit {})",
                limits.max_active_egresses_per_room
            )));
        }
        Ok(())
    }

    /// Remembers an egress as ended; the oldest ended ones beyond the cap are forgotten.
    fn retire(&mut self, id: &str, limits: &BroadcastLimits) {
        self.ended.push_back(id.to_owned());
        while self.ended.len() > limits.max_ended_egresses {
            if let Some(oldest) = self.ended.pop_front() {
                self.entries.remove(&oldest);
            }
        }
    }

    fn fresh_id(&self) -> String {
        loop {
            let id = new_id("EG_");
            if !self.entries.contains_key(&id) {
                return id;
            }
        }
    }

    fn entry(&self, id: &str) -> Result<&Entry, EmulatorError> {
        self.entries.get(id).ok_or_else(|| not_found(id))
    }

    fn entry_mut(&mut self, id: &str) -> Result<&mut Entry, EmulatorError> {
        self.entries.get_mut(id).ok_or_else(|| not_found(id))
    }
}

fn is_final(status: Status) -> bool {
    match status {
        Status::EgressStarting | Status::EgressActive | Status::EgressEnding => false,
        Status::EgressComplete
        | Status::EgressFailed
        | Status::EgressAborted
        | Status::EgressLimitReached => true,
    }
}

fn begin_ending(entry: &mut Entry, details: &str, events: &mut Vec<Event>) -> Next {
    entry.set_status(Status::EgressEnding, now_ns());
    details.clone_into(&mut entry.info.details);
    entry.report();
    events.push(Event::egress("egress_updated", &entry.info));
    Next::Complete
}

fn abort_entry(entry: &mut Entry, details: &str, events: &mut Vec<Event>) {
    let now = now_ns();
    entry.set_status(Status::EgressAborted, now);
    entry.info.ended_at = now;
    STOPPED_BEFORE_STARTED.clone_into(&mut entry.info.error);
    // HTTP 412, as LiveKit reports an abort.
    entry.info.error_code = 412;
    details.clone_into(&mut entry.info.details);
    entry.report();
    events.push(Event::egress("egress_ended", &entry.info));
}

fn fail_entry(entry: &mut Entry, reason: &str, events: &mut Vec<Event>) {
    let now = now_ns();
    entry.set_status(Status::EgressFailed, now);
    entry.info.ended_at = now;
    reason.clone_into(&mut entry.info.error);
    if entry.info.details.is_empty() {
        END_FAILURE.clone_into(&mut entry.info.details);
    }
    entry.outputs.fail(now, reason);
    entry.report();
    events.push(Event::egress("egress_ended", &entry.info));
}

fn not_found(id: &str) -> EmulatorError {
    EmulatorError::NotFound(format!("egress {id} does not exist"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> proto::Room {
        proto::Room {
            sid: "RM_1".into(),
            name: "show".into(),
            ..Default::default()
        }
    }

    fn to_rtmp(urls: &[&str]) -> StartRequest {
        StartRequest::RoomComposite(proto::RoomCompositeEgressRequest {
            room_name: "show".into(),
            stream_outputs: vec![proto::StreamOutput {
                protocol: proto::StreamProtocol::Rtmp as i32,
                urls: urls.iter().map(|u| (*u).to_owned()).collect(),
            }],
            ..Default::default()
        })
    }

    fn started(egresses: &mut Egresses, events: &mut Vec<Event>) -> String {
        let limits = BroadcastLimits::default();
        let info = egresses
            .start(
                to_rtmp(&["rtmp://h/app/k1"]),
                Some(&room()),
                None,
                &limits,
                events,
            )
            .unwrap_or_default();
        info.egress_id
    }

    fn names(events: &[Event]) -> Vec<&'static str> {
        events.iter().map(|e| e.name).collect()
    }

    #[test]
    fn a_stopped_egress_goes_through_ending_to_complete() {
        let (mut egresses, mut events) = (Egresses::default(), Vec::new());
        let limits = BroadcastLimits::default();
        let id = started(&mut egresses, &mut events);
        egresses.activate(&id, &limits, &mut events);
        let stopped = egresses.stop(&id, &limits, &mut events).ok();
        assert_eq!(
            stopped.as_ref().map(|(info, next)| (info.status, *next)),
            Some((Status::EgressEnding as i32, Next::Complete))
        );
        egresses.complete(&id, &limits, &mut events);
        assert_eq!(
            names(&events),
            [
                "egress_started",
                "egress_updated",
                "egress_updated",
                "egress_ended"
            ]
        );
        let done = egresses.list("", &id, false).unwrap_or_default();
        let stream = done[0].stream_results[0].clone();
        assert_eq!(stream.status, proto::stream_info::Status::Finished as i32);
        assert!(matches!(
            egresses.stop(&id, &limits, &mut events),
            Err(EmulatorError::FailedPrecondition(_))
        ));
    }

    #[test]
    fn stopping_before_the_pipeline_runs_aborts() {
        let (mut egresses, mut events) = (Egresses::default(), Vec::new());
        let limits = BroadcastLimits::default();
        let id = started(&mut egresses, &mut events);
        let (info, next) = egresses.stop(&id, &limits, &mut events).unwrap_or_default();
        assert_eq!(info.status, Status::EgressAborted as i32);
        assert_eq!(next, Next::Nothing);
        egresses.activate(&id, &limits, &mut events);
        assert_eq!(names(&events), ["egress_started", "egress_ended"]);
    }

    #[test]
    fn removing_the_last_stream_ends_the_egress() {
        let (mut egresses, mut events) = (Egresses::default(), Vec::new());
        let limits = BroadcastLimits::default();
        let id = started(&mut egresses, &mut events);
        egresses.activate(&id, &limits, &mut events);
        let update = proto::UpdateStreamRequest {
            egress_id: id.clone(),
            add_output_urls: vec!["rtmp://h/app/k2".into()],
            remove_output_urls: vec!["rtmp://h/app/k1".into()],
        };
        let (info, next) = egresses
            .update_stream(&update, &limits, &mut events)
            .unwrap_or_default();
        assert_eq!(info.stream_results.len(), 2);
        assert_eq!(next, Next::Nothing);
        let remove = proto::UpdateStreamRequest {
            egress_id: id,
            remove_output_urls: vec!["rtmp://h/app/k2".into()],
            ..Default::default()
        };
        let (info, next) = egresses
            .update_stream(&remove, &limits, &mut events)
            .unwrap_or_default();
        assert_eq!(info.status, Status::EgressEnding as i32);
        assert_eq!(info.details, END_STREAMS_STOPPED);
        assert_eq!(next, Next::Complete);
    }

    #[test]
    fn ended_egresses_beyond_the_cap_are_forgotten_and_starts_are_counted() {
        let (mut egresses, mut events) = (Egresses::default(), Vec::new());
        let limits = BroadcastLimits {
            max_ended_egresses: 1,
            ..BroadcastLimits::default()
        };
        let first = started(&mut egresses, &mut events);
        let second = started(&mut egresses, &mut events);
        assert!(egresses.fail(&first, "x", &limits, &mut events).is_ok());
        assert!(egresses.fail(&second, "y", &limits, &mut events).is_ok());
        assert!(egresses.list("", &first, false).is_err());
        assert_eq!(
            egresses.list("show", "", false).map(|l| l.len()).ok(),
            Some(1)
        );
        assert_eq!(egresses.starts("show"), 2);
        assert_eq!(egresses.starts("other"), 0);
    }
}
