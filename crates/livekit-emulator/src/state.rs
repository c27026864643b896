//! In-memory rooms and participants.
//!
//! Pure bookkeeping: every mutation reports the webhook-worthy facts it caused as [`Event`]s
//! instead of sending them, so the caller can enqueue them while it still holds the lock and
//! webhook order always matches state order.

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use livekit_protocol as proto;
use proto::participant_info::State as ParticipantState;

use crate::EmulatorError;

/// Something that happened to a room, an ingress or an egress, destined to become a webhook.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub name: &'static str,
    /// Room snapshot taken right after the change (minimal for ingress and egress events,
    /// as LiveKit sends them).
    pub room: proto::Room,
    pub participant: Option<proto::ParticipantInfo>,
    pub track: Option<proto::TrackInfo>,
    pub ingress: Option<proto::IngressInfo>,
    pub egress: Option<proto::EgressInfo>,
    pub room_end_reason: Option<proto::RoomEndReason>,
}

impl Event {
    pub fn room(name: &'static str, room: &proto::Room) -> Self {
        Self {
            name,
            room: room.clone(),
            participant: None,
            track: None,
            ingress: None,
            egress: None,
            room_end_reason: None,
        }
    }

    pub fn participant(name: &'static str, room: &proto::Room, p: &proto::ParticipantInfo) -> Self {
        Self {
            participant: Some(p.clone()),
            ..Self::room(name, room)
        }
    }

    /// LiveKit names the participant of a track event by sid and identity only.
    fn track(
        name: &'static str,
        room: &proto::Room,
        p: &proto::ParticipantInfo,
        track: &proto::TrackInfo,
    ) -> Self {
        let participant = proto::ParticipantInfo {
            sid: p.sid.clone(),
            identity: p.identity.clone(),
            ..Default::default()
        };
        Self {
            participant: Some(participant),
            track: Some(track.clone()),
            ..Self::room(name, room)
        }
    }

    /// LiveKit sends ingress events with a room that carries only its name.
    pub fn ingress(name: &'static str, info: &proto::IngressInfo) -> Self {
        let room = proto::Room {
            name: info.room_name.clone(),
            ..Default::default()
        };
        Self {
            ingress: Some(info.clone()),
            ..Self::room(name, &room)
        }
    }

    /// LiveKit sends egress events with a room that carries only its sid and name.
    pub fn egress(name: &'static str, info: &proto::EgressInfo) -> Self {
        let room = proto::Room {
            sid: info.room_id.clone(),
            name: info.room_name.clone(),
            ..Default::default()
        };
        Self {
            egress: Some(info.clone()),
            ..Self::room(name, &room)
        }
    }
}

/// The settings a room is created with, whether by CreateRoom or by a first join.
#[derive(Debug, Clone, Default)]
pub(crate) struct RoomSpec {
    pub name: String,
    pub empty_timeout: u32,
    pub departure_timeout: u32,
    pub max_participants: u32,
    pub metadata: String,
}

/// The changes UpdateParticipant can make; empty strings and `None` mean "leave as is",
/// matching LiveKit.
#[derive(Debug, Clone, Default)]
pub(crate) struct ParticipantUpdate {
    pub name: String,
    pub metadata: String,
    pub permission: Option<proto::ParticipantPermission>,
    pub attributes: HashMap<String, String>,
}

#[derive(Debug)]
struct RoomEntry {
    room: proto::Room,
    /// In join order, so listings are stable.
    participants: Vec<proto::ParticipantInfo>,
}

impl RoomEntry {
    fn sync_counts(&mut self) {
        self.room.num_participants = u32::try_from(self.participants.len()).unwrap_or(u32::MAX);
        let publishers = self.participants.iter().filter(|p| p.is_publisher).count();
        self.room.num_publishers = u32::try_from(publishers).unwrap_or(u32::MAX);
    }

    fn position(&self, identity: &str) -> Option<usize> {
        self.participants
            .iter()
            .position(|p| p.identity == identity)
    }

    /// Removes a participant the way LiveKit closes one: its tracks are unpublished, then it
    /// leaves.
    fn depart(&mut self, index: usize, reason: proto::DisconnectReason, events: &mut Vec<Event>) {
        if index >= self.participants.len() {
            return;
        }
        let mut gone = self.participants.remove(index);
        self.sync_counts();
        for track in &gone.tracks {
            events.push(Event::track("track_unpublished", &self.room, &gone, track));
        }
        mark_left(&mut gone, reason);
        events.push(Event::participant("participant_left", &self.room, &gone));
    }
}

/// All rooms of one emulator, keyed by name.
#[derive(Debug, Default)]
pub(crate) struct Rooms {
    rooms: BTreeMap<String, RoomEntry>,
}

impl Rooms {
    /// Returns the existing room unchanged, or creates it (LiveKit's CreateRoom is idempotent).
    pub fn get_or_create(
        &mut self,
        spec: RoomSpec,
        events: &mut Vec<Event>,
    ) -> Result<proto::Room, EmulatorError> {
        if spec.name.is_empty() {
            return Err(EmulatorError::InvalidArgument(
                "room name is required".into(),
            ));
        }
        if let Some(entry) = self.rooms.get(&spec.name) {
            return Ok(entry.room.clone());
        }
        let now = now_ms();
        let room = proto::Room {
            sid: new_id("RM_"),
            name: spec.name.clone(),
            empty_timeout: spec.empty_timeout,
            departure_timeout: spec.departure_timeout,
            max_participants: spec.max_participants,
            creation_time: now / 1000,
            creation_time_ms: now,
            metadata: spec.metadata,
            ..Default::default()
        };
        events.push(Event::room("room_started", &room));
        self.rooms.insert(
            spec.name,
            RoomEntry {
                room: room.clone(),
                participants: Vec::new(),
            },
        );
        Ok(room)
    }

    /// Disconnects everyone, then closes the room.
    pub fn delete(&mut self, name: &str, events: &mut Vec<Event>) -> Result<(), EmulatorError> {
        let mut entry = self
            .rooms
            .remove(name)
            .ok_or_else(|| room_not_found(name))?;
        while !entry.participants.is_empty() {
            entry.depart(0, proto::DisconnectReason::RoomDeleted, events);
        }
        events.push(Event {
            room_end_reason: Some(proto::RoomEndReason::RoomEndApiDelete),
            ..Event::room("room_finished", &entry.room)
        });
        Ok(())
    }

    /// All rooms, or only those named (unknown names are skipped, as in LiveKit).
    pub fn list(&self, names: &[String]) -> Vec<proto::Room> {
        if names.is_empty() {
            return self.rooms.values().map(|e| e.room.clone()).collect();
        }
        names
            .iter()
            .filter_map(|n| self.rooms.get(n))
            .map(|e| e.room.clone())
            .collect()
    }

    /// The room named `name`, if it exists.
    pub fn get(&self, name: &str) -> Option<&proto::Room> {
        self.rooms.get(name).map(|e| &e.room)
    }

    pub fn participants(&self, room: &str) -> Result<Vec<proto::ParticipantInfo>, EmulatorError> {
        Ok(self.entry(room)?.participants.clone())
    }

    pub fn participant(
        &self,
        room: &str,
        identity: &str,
    ) -> Result<proto::ParticipantInfo, EmulatorError> {
        let entry = self.entry(room)?;
        entry
            .position(identity)
            .and_then(|i| entry.participants.get(i))
            .cloned()
            .ok_or_else(|| participant_not_found(room, identity))
    }

    /// Adds a participant, auto-creating the room and replacing an earlier session of the
    /// same identity, as LiveKit does when a client joins.
    pub fn join(
        &mut self,
        spec: RoomSpec,
        participant: proto::ParticipantInfo,
        events: &mut Vec<Event>,
    ) -> Result<proto::ParticipantInfo, EmulatorError> {
        let room_name = spec.name.clone();
        self.get_or_create(spec, events)?;
        let entry = self.entry_mut(&room_name)?;
        let existing = entry.position(&participant.identity);
        let max = usize::try_from(entry.room.max_participants).unwrap_or(usize::MAX);
        // A reconnecting identity takes its old seat, so it never counts against the limit.
        if existing.is_none() && max > 0 && entry.participants.len() >= max {
            return Err(EmulatorError::ResourceExhausted(format!(
                "room {room_name} is full ({max} participants)"
            )));
        }
        if let Some(index) = existing {
            entry.depart(index, proto::DisconnectReason::DuplicateIdentity, events);
        }
        entry.participants.push(participant.clone());
        entry.sync_counts();
        events.push(Event::participant(
            "participant_joined",
            &entry.room,
            &participant,
        ));
        Ok(participant)
    }

    pub fn leave(
        &mut self,
        room: &str,
        identity: &str,
        reason: proto::DisconnectReason,
        events: &mut Vec<Event>,
    ) -> Result<(), EmulatorError> {
        let entry = self.entry_mut(room)?;
        let index = entry
            .position(identity)
            .ok_or_else(|| participant_not_found(room, identity))?;
        entry.depart(index, reason, events);
        Ok(())
    }

    pub fn update_room_metadata(
        &mut self,
        room: &str,
        metadata: String,
    ) -> Result<proto::Room, EmulatorError> {
        let entry = self.entry_mut(room)?;
        entry.room.metadata = metadata;
        Ok(entry.room.clone())
    }

    pub fn update_participant(
        &mut self,
        room: &str,
        identity: &str,
        update: ParticipantUpdate,
    ) -> Result<proto::ParticipantInfo, EmulatorError> {
        let p = self.participant_mut(room, identity)?;
        if !update.name.is_empty() {
            p.name = update.name;
        }
        if !update.metadata.is_empty() {
            p.metadata = update.metadata;
        }
        if update.permission.is_some() {
            p.permission = update.permission;
        }
        for (key, value) in update.attributes {
            // An empty value deletes the attribute, as in LiveKit.
            if value.is_empty() {
                p.attributes.remove(&key);
            } else {
                p.attributes.insert(key, value);
            }
        }
        p.version = p.version.saturating_add(1);
        Ok(p.clone())
    }

    pub fn mute_track(
        &mut self,
        room: &str,
        identity: &str,
        track_sid: &str,
        muted: bool,
    ) -> Result<proto::TrackInfo, EmulatorError> {
        let p = self.participant_mut(room, identity)?;
        let track = p
            .tracks
            .iter_mut()
            .find(|t| t.sid == track_sid)
            .ok_or_else(|| EmulatorError::NotFound(format!("track {track_sid} not found")))?;
        track.muted = muted;
        let track = track.clone();
        p.version = p.version.saturating_add(1);
        Ok(track)
    }

    /// Adds a published track to a participant, which makes it a publisher.
    pub fn publish_track(
        &mut self,
        room: &str,
        identity: &str,
        track: proto::TrackInfo,
        events: &mut Vec<Event>,
    ) -> Result<proto::TrackInfo, EmulatorError> {
        let entry = self.entry_mut(room)?;
        let index = entry
            .position(identity)
            .ok_or_else(|| participant_not_found(room, identity))?;
        let Some(p) = entry.participants.get_mut(index) else {
            return Err(participant_not_found(room, identity));
        };
        p.tracks.push(track.clone());
        p.is_publisher = true;
        p.version = p.version.saturating_add(1);
        let p = p.clone();
        entry.sync_counts();
        events.push(Event::track("track_published", &entry.room, &p, &track));
        Ok(track)
    }

    fn entry(&self, room: &str) -> Result<&RoomEntry, EmulatorError> {
        self.rooms.get(room).ok_or_else(|| room_not_found(room))
    }

    fn entry_mut(&mut self, room: &str) -> Result<&mut RoomEntry, EmulatorError> {
        self.rooms.get_mut(room).ok_or_else(|| room_not_found(room))
    }

    fn participant_mut(
        &mut self,
        room: &str,
        identity: &str,
    ) -> Result<&mut proto::ParticipantInfo, EmulatorError> {
        self.entry_mut(room)?
            .participants
            .iter_mut()
            .find(|p| p.identity == identity)
            .ok_or_else(|| participant_not_found(room, identity))
    }
}

fn mark_left(p: &mut proto::ParticipantInfo, reason: proto::DisconnectReason) {
    p.state = ParticipantState::Disconnected as i32;
    p.disconnect_reason = reason as i32;
}

fn room_not_found(room: &str) -> EmulatorError {
    EmulatorError::NotFound(format!("room {room} not found"))
}

fn participant_not_found(room: &str, identity: &str) -> EmulatorError {
    EmulatorError::NotFound(format!("participant {identity} not found in room {room}"))
}

/// Milliseconds since the Unix epoch; a clock before 1970 reads as 0 rather than failing.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// Nanoseconds since the Unix epoch, the unit of LiveKit's ingress and egress timestamps.
pub(crate) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// A LiveKit-style identifier: a type prefix and 12 random base62 characters (about 70
/// random bits, as LiveKit's own ids), so an id is never handed out twice in practice.
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", random_base62(12))
}

/// A secret such as a stream key: 21 base62 characters carrying all 122 random bits of a
/// v4 UUID (from the operating system's generator), so it cannot be guessed.
pub(crate) fn new_secret() -> String {
    random_base62(21)
}

fn random_base62(len: usize) -> String {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut value = uuid::Uuid::new_v4().as_u128();
    let mut out = String::with_capacity(len);
    for _ in 0..len {
        let digit = usize::try_from(value % 62).unwrap_or_default();
        out.push(ALPHABET.get(digit).map_or('0', |b| char::from(*b)));
        value /= 62;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> RoomSpec {
        RoomSpec {
            name: name.into(),
            ..Default::default()
        }
    }

    fn person(identity: &str) -> proto::ParticipantInfo {
        proto::ParticipantInfo {
            sid: new_id("PA_"),
            identity: identity.into(),
            state: ParticipantState::Active as i32,
            ..Default::default()
        }
    }

    fn names(events: &[Event]) -> Vec<&'static str> {
        events.iter().map(|e| e.name).collect()
    }

    #[test]
    fn creating_an_existing_room_returns_it_without_an_event() {
        let mut rooms = Rooms::default();
        let mut events = Vec::new();
        let first = rooms.get_or_create(spec("a"), &mut events).ok();
        let second = rooms.get_or_create(spec("a"), &mut events).ok();
        assert_eq!(first, second);
        assert_eq!(names(&events), ["room_started"]);
    }

    #[test]
    fn an_empty_room_name_is_rejected() {
        let result = Rooms::default().get_or_create(spec(""), &mut Vec::new());
        assert!(matches!(result, Err(EmulatorError::InvalidArgument(_))));
    }

    #[test]
    fn joining_counts_participants_and_deleting_disconnects_them_first() {
        let mut rooms = Rooms::default();
        let mut events = Vec::new();
        assert!(rooms.join(spec("r"), person("a"), &mut events).is_ok());
        assert!(rooms.join(spec("r"), person("b"), &mut events).is_ok());
        assert_eq!(rooms.list(&[])[0].num_participants, 2);
        assert!(rooms.delete("r", &mut events).is_ok());
        assert_eq!(
            names(&events),
            [
                "room_started",
                "participant_joined",
                "participant_joined",
                "participant_left",
                "participant_left",
                "room_finished"
            ]
        );
        assert!(rooms.list(&[]).is_empty());
    }

    #[test]
    fn a_departing_publisher_unpublishes_its_tracks_before_it_leaves() {
        let mut rooms = Rooms::default();
        let mut events = Vec::new();
        assert!(rooms.join(spec("r"), person("a"), &mut events).is_ok());
        let track = proto::TrackInfo {
            sid: "TR_1".into(),
            ..Default::default()
        };
        assert!(rooms.publish_track("r", "a", track, &mut events).is_ok());
        assert_eq!(rooms.list(&[])[0].num_publishers, 1);
        let published = events.last().cloned();
        assert_eq!(
            published.and_then(|e| e.track).map(|t| t.sid),
            Some("TR_1".to_owned())
        );

        let reason = proto::DisconnectReason::ClientInitiated;
        assert!(rooms.leave("r", "a", reason, &mut events).is_ok());

        assert_eq!(
            names(&events),
            [
                "room_started",
                "participant_joined",
                "track_published",
                "track_unpublished",
                "participant_left"
            ]
        );
        assert_eq!(rooms.list(&[])[0].num_publishers, 0);
    }

    #[test]
    fn a_full_room_refuses_new_identities_but_not_reconnects() {
        let mut rooms = Rooms::default();
        let mut events = Vec::new();
        let small = RoomSpec {
            max_participants: 1,
            ..spec("r")
        };
        assert!(rooms.join(small.clone(), person("a"), &mut events).is_ok());
        let refused = rooms.join(small.clone(), person("b"), &mut events);
        assert!(matches!(refused, Err(EmulatorError::ResourceExhausted(_))));
        assert!(rooms.join(small, person("a"), &mut events).is_ok());
    }
}
