use std::collections::BTreeMap;

use chrono::TimeZone;

use super::*;
use crate::values::{RoomName, StreamId};

fn at(second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, second).unwrap()
}

fn ctx(second: u32) -> ChangeContext {
    ChangeContext {
        event_id: Uuid::new_v4(),
        at: at(second),
        instance_id: "test".into(),
    }
}

fn identity(name: &str) -> Identity {
    Identity::new(name).unwrap()
}

/// A stream and its participant records, changed the way a store changes them.
struct Room {
    stream: Stream,
    people: BTreeMap<Identity, Participant>,
}

impl Room {
    fn with_status(status: StreamStatus) -> Self {
        let id = StreamId::from_uuid(Uuid::new_v4());
        let mut stream = Stream::new_active(
            id,
            RoomName::for_stream(&id),
            None,
            Metadata::default(),
            at(0),
        );
        stream.record_creation(&ctx(0));
        stream.status = status;
        Self {
            stream,
            people: BTreeMap::new(),
        }
    }

    fn active() -> Self {
        Self::with_status(StreamStatus::Active)
    }

    fn try_apply(
        &mut self,
        change: ParticipantChange,
        second: u32,
    ) -> Result<ParticipantApplied, TransitionError> {
        let current = self.people.get(change.identity());
        let (applied, decision) = change.apply(&self.stream, current, &ctx(second))?;
        if let (Some(decision), Some(event)) = (decision, &applied.event) {
            self.people
                .insert(change.identity().clone(), decision.participant);
            self.stream.audience = applied.audience;
            self.stream.seq = event.seq;
        }
        Ok(applied)
    }

    fn apply(&mut self, change: ParticipantChange, second: u32) -> ParticipantApplied {
        self.try_apply(change, second).unwrap()
    }

    fn kind(&mut self, change: ParticipantChange, second: u32) -> Option<EventType> {
        self.apply(change, second).event.map(|e| e.kind)
    }

    fn person(&self, name: &str) -> &Participant {
        &self.people[&identity(name)]
    }
}

fn join(name: &str, role: Role) -> ParticipantChange {
    ParticipantChange::Join {
        participant_id: Uuid::new_v4(),
        identity: identity(name),
        role,
        metadata: None,
    }
}

fn leave(name: &str) -> ParticipantChange {
    ParticipantChange::Leave {
        identity: identity(name),
    }
}

fn reported(second: u32) -> Option<DateTime<Utc>> {
    Some(at(second))
}

fn media_joined(name: &str, sid: &str, reported_at: Option<DateTime<Utc>>) -> ParticipantChange {
    ParticipantChange::MediaJoined {
        participant_id: Uuid::new_v4(),
        identity: identity(name),
        sid: sid.into(),
        role: Role::Viewer,
        reported_at,
    }
}

fn media_left(name: &str, sid: &str, reported_at: Option<DateTime<Utc>>) -> ParticipantChange {
    ParticipantChange::MediaLeft {
        identity: identity(name),
        sid: sid.into(),
        reported_at,
    }
}

#[test]
fn a_join_is_numbered_after_the_stream_and_carries_the_counters_after_it() {
    let mut room = Room::active();

    let applied = room.apply(join("ada", Role::Host), 1);

    let event = applied.event.unwrap();
    assert_eq!((event.kind, event.seq), (EventType::ParticipantJoined, 2));
    assert_eq!(event.data["participant"]["identity"], "ada");
    assert_eq!(
        event.data["audience"],
        serde_json::json!({"active": 1, "hosts": 1, "viewers": 0, "connected": 0, "totalJoined": 1})
    );
}

#[test]
fn joining_twice_is_one_participant_and_one_event() {
    let mut room = Room::active();
    assert_eq!(
        room.kind(join("ada", Role::Viewer), 1),
        Some(EventType::ParticipantJoined)
    );

    let again = room.apply(join("ada", Role::Viewer), 5);

    assert_eq!(again.event, None);
    assert_eq!(again.participant.unwrap().joined_at, at(1));
    assert_eq!(room.stream.audience.active, 1);
    assert_eq!(room.stream.audience.total_joined, 1);
}

#[test]
fn joining_again_with_another_role_moves_the_participant_between_counters() {
    let mut room = Room::active();
    room.apply(join("ada", Role::Viewer), 1);

    let promoted = room.apply(join("ada", Role::Host), 2);

    assert_eq!(promoted.event.unwrap().kind, EventType::ParticipantUpdated);
    assert_eq!(room.person("ada").role, Role::Host);
    assert_eq!(
        (room.stream.audience.hosts, room.stream.audience.viewers),
        (1, 0)
    );
}

#[test]
fn joining_needs_an_active_stream() {
    for status in StreamStatus::ALL
        .into_iter()
        .filter(|s| *s != StreamStatus::Active)
    {
        let mut room = Room::with_status(status);
        assert_eq!(
            room.try_apply(join("ada", Role::Viewer), 1),
            Err(TransitionError::NotActive(status))
        );
    }
}

#[test]
fn leaving_twice_is_one_leave() {
    let mut room = Room::active();
    room.apply(join("ada", Role::Viewer), 1);

    let left = room.apply(leave("ada"), 2);
    let again = room.apply(leave("ada"), 3);

    assert_eq!(left.event.unwrap().kind, EventType::ParticipantLeft);
    assert_eq!(room.person("ada").left_at, Some(at(2)));
    assert_eq!(again.event, None);
    assert_eq!(room.stream.audience.active, 0);
    assert_eq!(room.stream.audience.total_joined, 1);
}

#[test]
fn leaving_a_stream_one_never_joined_is_refused() {
    let mut room = Room::active();
    assert_eq!(
        room.try_apply(leave("ghost"), 1),
        Err(TransitionError::ParticipantNotFound(identity("ghost")))
    );
}

#[test]
fn rejoining_after_leaving_starts_a_new_session_with_the_same_id() {
    let mut room = Room::active();
    room.apply(join("ada", Role::Viewer), 1);
    let first_id = room.person("ada").id;
    room.apply(leave("ada"), 2);

    let back = room.apply(join("ada", Role::Viewer), 9);

    assert_eq!(back.event.unwrap().kind, EventType::ParticipantJoined);
    let ada = room.person("ada");
    assert_eq!(
        (ada.id, ada.joined_at, ada.left_at),
        (first_id, at(9), None)
    );
    assert_eq!(
        (
            room.stream.audience.active,
            room.stream.audience.total_joined
        ),
        (1, 1)
    );
}

#[test]
fn on_a_stopped_stream_everyone_has_left_whatever_their_record_says() {
    let mut room = Room::active();
    room.apply(join("ada", Role::Viewer), 1);
    room.stream.status = StreamStatus::Stopped;
    room.stream.stopped_at = Some(at(5));

    let leave_again = room.apply(leave("ada"), 6);
    let seen = room.person("ada").clone().as_of(&room.stream);

    assert_eq!(
        leave_again.event, None,
        "leaving a stopped stream changes nothing"
    );
    assert_eq!(seen.left_at, Some(at(5)), "left when the stream stopped");
    assert_eq!(
        room.kind(media_left("ada", "PA_1", None), 7),
        None,
        "nobody to disconnect"
    );
}

#[test]
fn livekit_joins_record_the_session_and_a_stale_leave_is_ignored() {
    let mut room = Room::active();
    room.apply(join("ada", Role::Host), 1);

    assert_eq!(
        room.kind(media_joined("ada", "PA_1", None), 2),
        Some(EventType::ParticipantUpdated)
    );
    assert_eq!(room.kind(media_joined("ada", "PA_1", None), 3), None);
    room.apply(media_joined("ada", "PA_2", None), 4);
    assert_eq!(room.kind(media_left("ada", "PA_1", None), 5), None);

    assert_eq!(
        room.kind(media_left("ada", "PA_2", None), 6),
        Some(EventType::ParticipantLeft)
    );
    assert_eq!(
        room.person("ada").role,
        Role::Host,
        "the API's role is kept"
    );
    assert_eq!(room.stream.audience.active, 0);
}

#[test]
fn livekit_reports_of_unknown_people_join_them_and_unknown_leaves_change_nothing() {
    let mut room = Room::active();
    let walk_in = ParticipantChange::MediaJoined {
        participant_id: Uuid::new_v4(),
        identity: identity("walk-in"),
        sid: "PA_9".into(),
        role: Role::Host,
        reported_at: None,
    };

    assert_eq!(room.kind(walk_in, 1), Some(EventType::ParticipantJoined));
    assert_eq!(room.person("walk-in").sid.as_deref(), Some("PA_9"));
    assert_eq!(room.stream.audience.hosts, 1);
    let unknown = room.apply(media_left("nobody", "PA_0", None), 2);
    assert_eq!((unknown.event, unknown.participant), (None, None));
}

#[test]
fn livekit_joins_on_a_stream_that_is_not_active_change_nothing() {
    let mut room = Room::with_status(StreamStatus::Stopping);
    assert_eq!(room.kind(media_joined("ada", "PA_1", None), 1), None);
}

#[test]
fn a_late_report_of_an_older_session_never_replaces_a_newer_one() {
    let mut room = Room::active();
    room.apply(media_joined("ada", "PA_new", reported(20)), 1);

    let late_join = room.apply(media_joined("ada", "PA_old", reported(10)), 2);
    let late_leave = room.apply(media_left("ada", "PA_new", reported(15)), 3);

    assert_eq!(late_join.event, None);
    assert_eq!(room.person("ada").sid.as_deref(), Some("PA_new"));
    assert_eq!(
        late_leave.event, None,
        "a leave reported before the newest join is stale"
    );
}

#[test]
fn a_redelivered_join_of_a_session_that_already_left_does_not_revive_it() {
    let mut room = Room::active();
    room.apply(media_joined("ada", "PA_1", reported(10)), 1);
    room.apply(media_left("ada", "PA_1", reported(12)), 2);

    let redelivered = room.apply(media_joined("ada", "PA_1", reported(10)), 3);

    assert_eq!(redelivered.event, None);
    assert!(!room.person("ada").is_active());
}

#[test]
fn tracks_are_counted_per_media_session_once_each() {
    let mut room = Room::active();
    room.apply(media_joined("ada", "PA_1", reported(1)), 1);
    let track = |track_sid: &str, published: bool, sid: &str| ParticipantChange::MediaTrack {
        identity: identity("ada"),
        sid: sid.into(),
        track_sid: track_sid.into(),
        published,
        reported_at: reported(2),
    };

    assert_eq!(
        room.kind(track("TR_a", true, "PA_1"), 2),
        Some(EventType::ParticipantUpdated)
    );
    assert_eq!(room.kind(track("TR_a", true, "PA_1"), 3), None);
    room.apply(track("TR_b", true, "PA_1"), 4);
    assert_eq!(room.person("ada").tracks, ["TR_a", "TR_b"]);
    assert_eq!(
        room.kind(track("TR_c", true, "PA_other"), 5),
        None,
        "tracks of another session are not this one's"
    );
    room.apply(track("TR_a", false, "PA_1"), 6);
    assert_eq!(room.person("ada").tracks, ["TR_b"]);
}

#[test]
fn counters_always_equal_what_the_records_say() {
    let mut room = Room::active();
    let script = [
        join("a", Role::Viewer),
        join("b", Role::Host),
        join("c", Role::Viewer),
        join("a", Role::Host),
        leave("c"),
        media_joined("d", "PA_d", None),
        leave("b"),
        join("c", Role::Viewer),
        media_left("d", "PA_d", None),
    ];
    for (second, change) in script.into_iter().enumerate() {
        room.apply(change, u32::try_from(second).unwrap() + 1);
        let present: Vec<&Participant> = room.people.values().filter(|p| p.is_active()).collect();
        let hosts = present.iter().filter(|p| p.role == Role::Host).count();
        let audience = room.stream.audience;
        assert_eq!(
            (
                audience.active,
                audience.hosts,
                audience.viewers,
                audience.total_joined
            ),
            (
                present.len() as u64,
                hosts as u64,
                (present.len() - hosts) as u64,
                room.people.len() as u64
            )
        );
    }
}
