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

fn stream_with_status(status: StreamStatus) -> Stream {
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
    stream
}

fn identity(name: &str) -> Identity {
    Identity::new(name).unwrap()
}

fn join(name: &str, role: Role) -> Change {
    Change::Join {
        participant_id: Uuid::new_v4(),
        identity: identity(name),
        role,
        metadata: None,
    }
}

fn status_update(to: StreamStatus) -> Change {
    Change::Update {
        status: Some(to),
        metadata: None,
        expected: None,
    }
}

fn applied(stream: &Stream, change: Change) -> Applied {
    stream.apply(&change, &ctx(1)).unwrap()
}

#[test]
fn creation_is_event_one_of_an_active_stream() {
    let id = StreamId::from_uuid(Uuid::new_v4());
    let mut stream = Stream::new_active(
        id,
        RoomName::for_stream(&id),
        None,
        Metadata::default(),
        at(0),
    );
    let event = stream.record_creation(&ctx(0));
    assert_eq!(event.seq, 1);
    assert_eq!(event.kind, EventType::StreamCreated);
    assert_eq!(stream.seq, 1);
    assert_eq!(stream.version, 1);
    assert_eq!(stream.status, StreamStatus::Active);
}

#[test]
fn every_allowed_status_update_produces_exactly_one_numbered_event() {
    for from in StreamStatus::ALL {
        for to in StreamStatus::ALL
            .into_iter()
            .filter(|to| from.can_become(*to))
        {
            let stream = stream_with_status(from);
            let outcome = applied(&stream, status_update(to));
            let event = outcome.event.expect("a change of status is recorded");
            assert_eq!(outcome.stream.status, to);
            assert_eq!(event.seq, stream.seq + 1, "{from} -> {to}");
            assert_eq!(outcome.stream.seq, event.seq);
            assert_eq!(outcome.stream.version, stream.version + 1);
            let expected_kind = if to == StreamStatus::Stopped {
                EventType::StreamStopped
            } else {
                EventType::StreamUpdated
            };
            assert_eq!(event.kind, expected_kind, "{from} -> {to}");
        }
    }
}

#[test]
fn every_forbidden_status_update_is_refused_and_changes_nothing() {
    for from in StreamStatus::ALL {
        for to in StreamStatus::ALL
            .into_iter()
            .filter(|to| *to != from && !from.can_become(*to))
        {
            let stream = stream_with_status(from);
            let err = stream.apply(&status_update(to), &ctx(1)).unwrap_err();
            assert_eq!(err, TransitionError::InvalidTransition { from, to });
        }
    }
}

#[test]
fn an_update_that_changes_nothing_records_nothing() {
    let stream = stream_with_status(StreamStatus::Active);
    let outcome = applied(&stream, status_update(StreamStatus::Active));
    assert_eq!(outcome.event, None);
    assert_eq!(outcome.stream, stream);
}

#[test]
fn metadata_updates_merge_and_are_recorded() {
    let stream = stream_with_status(StreamStatus::Active);
    let patch = Metadata::from_value("metadata", json!({"title": "Launch"})).unwrap();
    let outcome = applied(
        &stream,
        Change::Update {
            status: None,
            metadata: Some(patch),
            expected: None,
        },
    );
    assert_eq!(outcome.stream.metadata.as_map()["title"], "Launch");
    assert_eq!(outcome.event.unwrap().kind, EventType::StreamUpdated);
}

#[test]
fn a_stale_body_version_conflicts_and_a_stale_if_match_fails_the_precondition() {
    let stream = stream_with_status(StreamStatus::Active);
    let stale = stream.version + 1;
    let update = |expected| Change::Update {
        status: Some(StreamStatus::Error),
        metadata: None,
        expected: Some(expected),
    };
    assert_eq!(
        stream.apply(&update(ExpectedVersion::Body(stale)), &ctx(1)),
        Err(TransitionError::VersionConflict {
            expected: stale,
            current: stream.version
        })
    );
    assert_eq!(
        stream.apply(&update(ExpectedVersion::IfMatch(stale)), &ctx(1)),
        Err(TransitionError::PreconditionFailed {
            expected: stale,
            current: stream.version
        })
    );
    assert!(stream
        .apply(&update(ExpectedVersion::Body(stream.version)), &ctx(1))
        .is_ok());
}

#[test]
fn stopping_goes_through_stopping_to_stopped_once() {
    let stream = stream_with_status(StreamStatus::Active);
    let begun = applied(&stream, Change::BeginStop);
    assert_eq!(begun.stream.status, StreamStatus::Stopping);
    assert_eq!(begun.event.unwrap().kind, EventType::StreamUpdated);

    assert_eq!(applied(&begun.stream, Change::BeginStop).event, None);

    let finished = applied(&begun.stream, Change::FinishStop);
    assert_eq!(finished.stream.status, StreamStatus::Stopped);
    assert_eq!(finished.stream.stopped_at, Some(at(1)));
    assert_eq!(finished.event.unwrap().kind, EventType::StreamStopped);

    assert_eq!(applied(&finished.stream, Change::BeginStop).event, None);
    assert_eq!(applied(&finished.stream, Change::FinishStop).event, None);
}

#[test]
fn a_creating_stream_cannot_be_stopped() {
    let stream = stream_with_status(StreamStatus::Creating);
    assert_eq!(
        stream.apply(&Change::BeginStop, &ctx(1)),
        Err(TransitionError::InvalidTransition {
            from: StreamStatus::Creating,
            to: StreamStatus::Stopping
        })
    );
}

#[test]
fn an_errored_stream_can_be_stopped() {
    let stream = stream_with_status(StreamStatus::Error);
    let begun = applied(&stream, Change::BeginStop);
    assert_eq!(begun.stream.status, StreamStatus::Stopping);
}

#[test]
fn stopping_marks_every_present_participant_as_left() {
    let stream = stream_with_status(StreamStatus::Active);
    let stream = applied(&stream, join("ada", Role::Host)).stream;
    let stopped = applied(&stream, status_update(StreamStatus::Stopped)).stream;
    assert_eq!(stopped.participants[0].left_at, Some(at(1)));
    assert_eq!(stopped.active_participants().count(), 0);
}

#[test]
fn joining_twice_is_one_participant_and_one_event() {
    let stream = stream_with_status(StreamStatus::Active);
    let first = applied(&stream, join("ada", Role::Viewer));
    assert_eq!(
        first.event.as_ref().unwrap().kind,
        EventType::ParticipantJoined
    );
    let again = first
        .stream
        .apply(&join("ada", Role::Viewer), &ctx(5))
        .unwrap();
    assert_eq!(again.event, None);
    assert_eq!(again.stream.participants.len(), 1);
    assert_eq!(again.stream.participants[0].joined_at, at(1));
}

#[test]
fn joining_again_with_another_role_updates_the_participant() {
    let stream = applied(
        &stream_with_status(StreamStatus::Active),
        join("ada", Role::Viewer),
    )
    .stream;
    let promoted = applied(&stream, join("ada", Role::Host));
    assert_eq!(promoted.event.unwrap().kind, EventType::ParticipantUpdated);
    assert_eq!(promoted.stream.participants[0].role, Role::Host);
}

#[test]
fn joining_needs_an_active_stream() {
    for status in StreamStatus::ALL
        .into_iter()
        .filter(|s| *s != StreamStatus::Active)
    {
        let stream = stream_with_status(status);
        assert_eq!(
            stream.apply(&join("ada", Role::Viewer), &ctx(1)),
            Err(TransitionError::NotActive(status))
        );
    }
}

#[test]
fn leaving_twice_is_one_leave() {
    let stream = applied(
        &stream_with_status(StreamStatus::Active),
        join("ada", Role::Viewer),
    )
    .stream;
    let left = applied(
        &stream,
        Change::Leave {
            identity: identity("ada"),
        },
    );
    assert_eq!(left.event.unwrap().kind, EventType::ParticipantLeft);
    assert_eq!(left.stream.participants[0].left_at, Some(at(1)));
    let again = applied(
        &left.stream,
        Change::Leave {
            identity: identity("ada"),
        },
    );
    assert_eq!(again.event, None);
}

#[test]
fn leaving_a_stream_one_never_joined_is_refused() {
    let stream = stream_with_status(StreamStatus::Active);
    assert_eq!(
        stream.apply(
            &Change::Leave {
                identity: identity("ghost")
            },
            &ctx(1)
        ),
        Err(TransitionError::ParticipantNotFound(identity("ghost")))
    );
}

#[test]
fn rejoining_after_leaving_starts_a_new_session_with_the_same_id() {
    let stream = applied(
        &stream_with_status(StreamStatus::Active),
        join("ada", Role::Viewer),
    )
    .stream;
    let first_id = stream.participants[0].id;
    let left = applied(
        &stream,
        Change::Leave {
            identity: identity("ada"),
        },
    )
    .stream;
    let back = left.apply(&join("ada", Role::Viewer), &ctx(9)).unwrap();
    assert_eq!(back.event.unwrap().kind, EventType::ParticipantJoined);
    let participant = &back.stream.participants[0];
    assert_eq!(
        (participant.id, participant.joined_at, participant.left_at),
        (first_id, at(9), None)
    );
}

#[test]
fn livekit_joins_record_the_session_and_a_stale_leave_is_ignored() {
    let stream = applied(
        &stream_with_status(StreamStatus::Active),
        join("ada", Role::Host),
    )
    .stream;
    let media_join = |sid: &str| Change::MediaJoined {
        participant_id: Uuid::new_v4(),
        identity: identity("ada"),
        sid: sid.into(),
        role: Role::Viewer,
        reported_at: None,
    };
    let connected = applied(&stream, media_join("PA_1"));
    assert_eq!(connected.event.unwrap().kind, EventType::ParticipantUpdated);
    assert_eq!(applied(&connected.stream, media_join("PA_1")).event, None);

    let reconnected = applied(&connected.stream, media_join("PA_2")).stream;
    let stale_leave = Change::MediaLeft {
        identity: identity("ada"),
        sid: "PA_1".into(),
        reported_at: None,
    };
    assert_eq!(applied(&reconnected, stale_leave).event, None);

    let leave = Change::MediaLeft {
        identity: identity("ada"),
        sid: "PA_2".into(),
        reported_at: None,
    };
    let left = applied(&reconnected, leave);
    assert_eq!(left.event.unwrap().kind, EventType::ParticipantLeft);
    assert_eq!(
        left.stream.participants[0].role,
        Role::Host,
        "the API's role is kept"
    );
}

#[test]
fn livekit_reports_of_unknown_people_join_them_and_unknown_leaves_change_nothing() {
    let stream = stream_with_status(StreamStatus::Active);
    let joined = applied(
        &stream,
        Change::MediaJoined {
            participant_id: Uuid::new_v4(),
            identity: identity("walk-in"),
            sid: "PA_9".into(),
            role: Role::Host,
            reported_at: None,
        },
    );
    assert_eq!(joined.event.unwrap().kind, EventType::ParticipantJoined);
    assert_eq!(joined.stream.participants[0].sid.as_deref(), Some("PA_9"));
    let unknown_leave = Change::MediaLeft {
        identity: identity("nobody"),
        sid: "PA_0".into(),
        reported_at: None,
    };
    assert_eq!(applied(&stream, unknown_leave).event, None);
}

#[test]
fn livekit_room_reports_follow_the_status_machine() {
    let creating = stream_with_status(StreamStatus::Creating);
    let started = applied(&creating, Change::MediaRoomStarted);
    assert_eq!(started.stream.status, StreamStatus::Active);
    assert_eq!(
        applied(&started.stream, Change::MediaRoomStarted).event,
        None
    );

    let finished = applied(&started.stream, Change::MediaRoomFinished);
    assert_eq!(finished.stream.status, StreamStatus::Stopped);
    assert_eq!(finished.event.unwrap().kind, EventType::StreamStopped);
    assert_eq!(
        applied(&finished.stream, Change::MediaRoomFinished).event,
        None
    );
    assert_eq!(
        applied(&finished.stream, Change::MediaRoomStarted).event,
        None,
        "no revival"
    );
}

fn reported(second: u32) -> Option<DateTime<Utc>> {
    Some(at(second))
}

fn media_joined(name: &str, sid: &str, reported_at: Option<DateTime<Utc>>) -> Change {
    Change::MediaJoined {
        participant_id: Uuid::new_v4(),
        identity: identity(name),
        sid: sid.into(),
        role: Role::Viewer,
        reported_at,
    }
}

#[test]
fn a_late_report_of_an_older_session_never_replaces_a_newer_one() {
    let stream = stream_with_status(StreamStatus::Active);
    let newer = applied(&stream, media_joined("ada", "PA_new", reported(20))).stream;

    let late_join = applied(&newer, media_joined("ada", "PA_old", reported(10)));
    let late_leave = applied(
        &newer,
        Change::MediaLeft {
            identity: identity("ada"),
            sid: "PA_new".into(),
            reported_at: reported(15),
        },
    );

    assert_eq!(late_join.event, None);
    assert_eq!(
        late_join.stream.participants[0].sid.as_deref(),
        Some("PA_new")
    );
    assert_eq!(
        late_leave.event, None,
        "a leave reported before the newest join is stale"
    );
}

#[test]
fn a_redelivered_join_of_a_session_that_already_left_does_not_revive_it() {
    let stream = stream_with_status(StreamStatus::Active);
    let joined = applied(&stream, media_joined("ada", "PA_1", reported(10))).stream;
    let left = applied(
        &joined,
        Change::MediaLeft {
            identity: identity("ada"),
            sid: "PA_1".into(),
            reported_at: reported(12),
        },
    )
    .stream;

    let redelivered = applied(&left, media_joined("ada", "PA_1", reported(10)));

    assert_eq!(redelivered.event, None);
    assert!(!redelivered.stream.participants[0].is_active());
}

#[test]
fn tracks_are_counted_per_media_session_once_each() {
    let stream = stream_with_status(StreamStatus::Active);
    let joined = applied(&stream, media_joined("ada", "PA_1", reported(1))).stream;
    let track = |track_sid: &str, published: bool, sid: &str| Change::MediaTrack {
        identity: identity("ada"),
        sid: sid.into(),
        track_sid: track_sid.into(),
        published,
        reported_at: reported(2),
    };

    let one = applied(&joined, track("TR_a", true, "PA_1"));
    let again = applied(&one.stream, track("TR_a", true, "PA_1"));
    let two = applied(&one.stream, track("TR_b", true, "PA_1"));
    let other_session = applied(&two.stream, track("TR_c", true, "PA_other"));
    let unpublished = applied(&two.stream, track("TR_a", false, "PA_1"));

    assert_eq!(one.event.unwrap().kind, EventType::ParticipantUpdated);
    assert_eq!(again.event, None);
    assert_eq!(two.stream.participants[0].tracks, ["TR_a", "TR_b"]);
    assert_eq!(
        other_session.event, None,
        "tracks of another session are not this one's"
    );
    assert_eq!(unpublished.stream.participants[0].tracks, ["TR_b"]);
}

#[test]
fn egress_and_ingress_statuses_are_recorded_once_per_change() {
    let stream = stream_with_status(StreamStatus::Active);
    let egress = |status: &str| Change::MediaEgress {
        egress_id: "EG_1".into(),
        status: status.into(),
    };

    let started = applied(&stream, egress("EGRESS_ACTIVE"));
    let same = applied(&started.stream, egress("EGRESS_ACTIVE"));
    let ended = applied(&started.stream, egress("EGRESS_COMPLETE"));
    let ingress = applied(
        &stream,
        Change::MediaIngress {
            ingress_id: "IN_1".into(),
            status: "ENDPOINT_PUBLISHING".into(),
        },
    );

    assert_eq!(started.event.unwrap().kind, EventType::StreamUpdated);
    assert_eq!(same.event, None);
    assert_eq!(ended.stream.egress["EG_1"], "EGRESS_COMPLETE");
    assert_eq!(ingress.stream.ingress["IN_1"], "ENDPOINT_PUBLISHING");
}
