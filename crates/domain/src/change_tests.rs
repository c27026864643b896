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
fn a_metadata_event_carries_the_patch_not_the_whole_metadata() {
    let mut stream = stream_with_status(StreamStatus::Active);
    stream.metadata =
        Metadata::from_value("metadata", json!({"big": "x".repeat(10_000), "n": 1})).unwrap();
    let patch = Metadata::from_value("metadata", json!({"n": 2})).unwrap();

    let event = applied(
        &stream,
        Change::Update {
            status: None,
            metadata: Some(patch),
            expected: None,
        },
    )
    .event
    .unwrap();

    assert_eq!(event.data["metadataPatch"], json!({"n": 2}));
    assert!(event.data.get("metadata").is_none());
    assert!(event.data.to_string().len() < 200);
}

#[test]
fn a_merge_past_the_metadata_limit_is_refused_and_changes_nothing() {
    let mut stream = stream_with_status(StreamStatus::Active);
    let half = "x".repeat(Metadata::MAX_BYTES / 2 + 1);
    stream.metadata = Metadata::from_value("metadata", json!({ "a": half })).unwrap();
    let patch = Metadata::from_value("metadata", json!({ "b": half })).unwrap();

    let refused = stream.apply(
        &Change::Update {
            status: Some(StreamStatus::Error),
            metadata: Some(patch),
            expected: None,
        },
        &ctx(1),
    );

    assert!(matches!(refused, Err(TransitionError::Invalid(ref e)) if e.field == "metadata"));
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
fn stopping_empties_the_audience_but_keeps_its_history() {
    let mut stream = stream_with_status(StreamStatus::Active);
    stream.audience = crate::audience::Audience {
        active: 3,
        hosts: 1,
        viewers: 2,
        connected: 2,
        total_joined: 7,
    };
    let stopped = applied(&stream, status_update(StreamStatus::Stopped)).stream;
    assert_eq!(
        stopped.audience,
        crate::audience::Audience {
            total_joined: 7,
            ..crate::audience::Audience::default()
        }
    );
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
