//! The payload of every event type, from events the domain itself produces.

use chrono::{TimeZone, Utc};
use orchestrator_domain::{
    change::Change, change::ChangeContext, participant::Role, stream::Stream, values::Identity,
    values::RoomName, values::StreamId,
};
use serde_json::json;
use uuid::Uuid;

use super::*;

fn at(second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, second).unwrap()
}

fn ctx(second: u32) -> ChangeContext {
    ChangeContext {
        event_id: Uuid::new_v4(),
        at: at(second),
        instance_id: "instance-a".into(),
    }
}

fn metadata(value: serde_json::Value) -> Metadata {
    Metadata::from_value("metadata", value).unwrap()
}

fn stream() -> Stream {
    Stream::new_active(
        StreamId::from_uuid(Uuid::new_v4()),
        RoomName::new("studio").unwrap(),
        None,
        metadata(json!({"title": "Live", "n": 1})),
        at(0),
    )
}

fn apply(stream: &mut Stream, change: Change, second: u32) -> StreamEvent {
    let applied = stream.apply(&change, &ctx(second)).unwrap();
    *stream = applied.stream;
    applied.event.unwrap()
}

fn data(event: &proto::StreamEvent) -> &EventData {
    event.event_data.as_ref().expect("a payload")
}

#[test]
fn every_event_carries_its_type_stream_time_seq_id_and_instance() {
    let mut stream = stream();
    let created = stream.record_creation(&ctx(1));

    let encoded = event(&created);

    assert_eq!(encoded.event_type(), proto::StreamEventType::StreamCreated);
    assert_eq!(encoded.stream_id, stream.id.to_string());
    assert_eq!(encoded.timestamp, at(1).timestamp_millis());
    assert_eq!(encoded.seq, 1);
    assert_eq!(encoded.event_id, created.id.to_string());
    assert_eq!(encoded.instance_id, "instance-a");
}

#[test]
fn stream_created_has_the_room_the_status_and_the_metadata_both_ways() {
    let mut stream = stream();
    let created = event(&stream.record_creation(&ctx(1)));

    let EventData::StreamCreated(payload) = data(&created) else {
        panic!("{created:?}");
    };
    assert_eq!(payload.room_name, "studio");
    assert_eq!(payload.status(), proto::StreamStatus::Active);
    assert_eq!(
        payload.metadata,
        HashMap::from([("title".into(), "Live".into()), ("n".into(), "1".into())])
    );
    assert_eq!(
        payload.structured_metadata,
        Some(metadata::to_struct(&stream.metadata))
    );
}

#[test]
fn stream_updated_names_both_statuses_and_the_metadata_that_changed() {
    let mut stream = stream();
    let update = Change::Update {
        status: Some(StreamStatus::Error),
        metadata: Some(metadata(json!({"n": null, "reason": "encoder"}))),
        expected: None,
    };

    let updated = event(&apply(&mut stream, update, 2));

    let EventData::StreamUpdated(payload) = data(&updated) else {
        panic!("{updated:?}");
    };
    assert_eq!(payload.previous_status(), proto::StreamStatus::Active);
    assert_eq!(payload.current_status(), proto::StreamStatus::Error);
    assert_eq!(
        payload.metadata,
        HashMap::from([("reason".into(), "encoder".into())]),
        "the keys this change set, not the whole metadata"
    );
    let patch = json!({"n": null, "reason": "encoder"});
    assert_eq!(
        payload.metadata_patch,
        Some(metadata::map_to_struct(patch.as_object().unwrap())),
        "the patch, removals included"
    );
    assert!(payload.egress.is_empty() && payload.ingress.is_empty());
}

#[test]
fn an_egress_report_is_a_stream_update_with_only_the_egress() {
    let mut stream = stream();
    let report = Change::MediaEgress {
        egress_id: "EG_1".into(),
        status: "EGRESS_ACTIVE".into(),
    };

    let updated = event(&apply(&mut stream, report, 2));

    let EventData::StreamUpdated(payload) = data(&updated) else {
        panic!("{updated:?}");
    };
    assert_eq!(
        payload.egress,
        HashMap::from([("EG_1".into(), "EGRESS_ACTIVE".into())])
    );
    assert_eq!(payload.current_status(), proto::StreamStatus::Unknown);
    assert_eq!(payload.metadata_patch, None);
    assert!(payload.metadata.is_empty() && payload.ingress.is_empty());
}

#[test]
fn stream_stopped_has_its_room_the_previous_status_and_when_it_stopped() {
    let mut stream = stream();
    apply(&mut stream, Change::BeginStop, 2);

    let stopped = event(&apply(&mut stream, Change::FinishStop, 3));

    assert_eq!(stopped.event_type(), proto::StreamEventType::StreamStopped);
    let EventData::StreamStopped(payload) = data(&stopped) else {
        panic!("{stopped:?}");
    };
    assert_eq!(payload.previous_status(), proto::StreamStatus::Stopping);
    assert_eq!(payload.stopped_at, at(3).timestamp_millis());
    assert_eq!(payload.room_name, stream.room_name.as_str());
}

#[test]
fn participant_events_carry_the_participant_and_the_counters_after_them() {
    let stream = stream();
    let mut ada = Participant::new(
        Uuid::new_v4(),
        Identity::new("ada").unwrap(),
        Role::Host,
        at(4),
    )
    .with_metadata(metadata(json!({"seat": 7, "name": "Ada"})));
    ada.sid = Some("PA_1".into());
    ada.tracks = vec!["TR_1".into()];
    ada.media_at = Some(at(5));
    ada.left_at = Some(at(6));
    let counters = Audience {
        active: 1,
        hosts: 0,
        viewers: 1,
        connected: 1,
        total_joined: 2,
    };
    let left = StreamEvent::for_participant(
        stream.id,
        4,
        EventType::ParticipantLeft,
        &ada,
        counters,
        &ctx(6),
    );

    let encoded = event(&left);

    let EventData::ParticipantLeft(payload) = data(&encoded) else {
        panic!("{encoded:?}");
    };
    assert_eq!(
        payload.participant,
        Some(proto::Participant {
            id: ada.id.to_string(),
            identity: "ada".into(),
            joined_at: at(4).timestamp_millis(),
            left_at: at(6).timestamp_millis(),
            metadata: HashMap::from([("seat".into(), "7".into()), ("name".into(), "Ada".into())]),
            role: proto::ParticipantRole::Host.into(),
            sid: "PA_1".into(),
            tracks: vec!["TR_1".into()],
            structured_metadata: Some(metadata::to_struct(&ada.metadata)),
            media_at: at(5).timestamp_millis(),
        })
    );
    assert_eq!(
        payload.audience,
        Some(proto::Audience {
            active: 1,
            hosts: 0,
            viewers: 1,
            total_joined: 2,
            connected: 1,
        })
    );
}

#[test]
fn joined_and_updated_participants_use_their_own_payloads() {
    let stream = stream();
    let bob = Participant::new(
        Uuid::new_v4(),
        Identity::new("bob").unwrap(),
        Role::Viewer,
        at(4),
    );
    let of_kind = |kind| {
        let domain_event =
            StreamEvent::for_participant(stream.id, 2, kind, &bob, Audience::default(), &ctx(4));
        event(&domain_event).event_data
    };

    let joined = of_kind(EventType::ParticipantJoined);
    let updated = of_kind(EventType::ParticipantUpdated);

    assert!(
        matches!(joined, Some(EventData::ParticipantJoined(ref p)) if p.participant.as_ref().is_some_and(|p| p.left_at == 0))
    );
    assert!(
        matches!(updated, Some(EventData::ParticipantUpdated(ref p)) if p.participant.as_ref().is_some_and(|p| p.identity == "bob"))
    );
}

#[test]
fn data_of_an_unexpected_shape_leaves_the_payload_out() {
    let mut stream = stream();
    let mut odd = stream.record_creation(&ctx(1));
    odd.kind = EventType::ParticipantJoined;

    let encoded = event(&odd);

    assert_eq!(
        encoded.event_type(),
        proto::StreamEventType::ParticipantJoined
    );
    assert_eq!(encoded.event_data, None);
    assert_eq!(encoded.seq, 1);
}

#[test]
fn an_audience_update_names_its_seq_and_carries_the_counts() {
    let mut stream = stream();
    let last = stream.record_creation(&ctx(7));
    let counters = orchestrator_realtime::Audience {
        active: 3,
        hosts: 1,
        viewers: 2,
        connected: 2,
        total_joined: 5,
    };

    let update = audience_update(&last, Some(&counters));

    assert_eq!(update.event_type(), proto::StreamEventType::AudienceUpdated);
    assert_eq!(
        (update.seq, update.stream_id.clone(), update.timestamp),
        (1, stream.id.to_string(), at(7).timestamp_millis())
    );
    assert!(update.event_id.is_empty() && update.instance_id.is_empty());
    assert_eq!(
        update.event_data,
        Some(EventData::AudienceUpdated(proto::AudienceUpdatedData {
            audience: Some(proto::Audience {
                active: 3,
                hosts: 1,
                viewers: 2,
                total_joined: 5,
                connected: 2,
            }),
        }))
    );
}
