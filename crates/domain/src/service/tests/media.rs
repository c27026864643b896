//! LiveKit reports and reconciliation.

use super::*;

// ---- LiveKit events ----

#[tokio::test]
async fn a_livekit_join_for_a_managed_room_records_the_participant() {
    let (h, _) = Harness::with_stream(StreamStatus::Active);
    let room = h.stored.current().room_name.to_string();
    let (service, stored) = h.service();

    let outcome = service
        .apply_media_event(media(
            &room,
            "RM_1",
            MediaEventKind::ParticipantJoined {
                identity: "walk-in".into(),
                sid: "PA_1".into(),
                can_publish: false,
            },
        ))
        .await
        .unwrap();

    assert!(
        matches!(outcome, MediaEventOutcome::Applied(ref e) if e.kind == EventType::ParticipantJoined)
    );
    assert_eq!(stored.person("walk-in").role, Role::Viewer);
    assert_eq!(stored.current().audience.viewers, 1);
}

#[tokio::test]
async fn livekit_events_for_other_rooms_or_older_rooms_of_the_same_name_change_nothing() {
    let (h, _) = Harness::with_stream(StreamStatus::Active);
    let room = h.stored.current().room_name.to_string();
    let (service, stored) = h.service();

    let older_room = media(&room, "RM_OLD", MediaEventKind::RoomFinished);
    assert_eq!(
        service.apply_media_event(older_room).await,
        Ok(MediaEventOutcome::UnknownRoom)
    );

    let mut other = Harness::new();
    other
        .repo
        .expect_find_live_by_room()
        .returning(|_| Ok(None));
    let (other_service, _) = other.service();
    let unknown = media("elsewhere", "RM_9", MediaEventKind::RoomStarted);
    assert_eq!(
        other_service.apply_media_event(unknown).await,
        Ok(MediaEventOutcome::UnknownRoom)
    );
    assert_eq!(stored.current().status, StreamStatus::Active);
}

#[tokio::test]
async fn a_livekit_room_finished_stops_the_stream_once() {
    let (h, _) = Harness::with_stream(StreamStatus::Active);
    let room = h.stored.current().room_name.to_string();
    let (service, stored) = h.service();
    let finished = media(&room, "RM_1", MediaEventKind::RoomFinished);

    let first = service.apply_media_event(finished.clone()).await.unwrap();
    let second = service.apply_media_event(finished).await.unwrap();

    assert!(
        matches!(first, MediaEventOutcome::Applied(ref e) if e.kind == EventType::StreamStopped)
    );
    assert_eq!(
        second,
        MediaEventOutcome::UnknownRoom,
        "a stopped stream no longer owns the room"
    );
    assert_eq!(stored.current().status, StreamStatus::Stopped);
}

#[tokio::test]
async fn livekit_track_and_egress_reports_reach_the_stream() {
    let (h, _) = Harness::with_stream(StreamStatus::Active);
    let room = h.stored.current().room_name.to_string();
    let (service, stored) = h.service();
    let joined = MediaEventKind::ParticipantJoined {
        identity: "ada".into(),
        sid: "PA_1".into(),
        can_publish: true,
    };
    service
        .apply_media_event(media(&room, "RM_1", joined))
        .await
        .unwrap();

    let track = MediaEventKind::Track {
        identity: "ada".into(),
        sid: "PA_1".into(),
        track_sid: "TR_1".into(),
        published: true,
    };
    let egress = MediaEventKind::Egress {
        status: "EGRESS_ACTIVE".into(),
        report: crate::broadcast::EgressReport {
            egress_id: "EG_1".into(),
            status: crate::broadcast::EgressStatus::Active,
            error: None,
            playback_url: None,
            location: None,
        },
    };
    service
        .apply_media_event(media(&room, "RM_1", track))
        .await
        .unwrap();
    service
        .apply_media_event(media(&room, "RM_1", egress))
        .await
        .unwrap();

    assert_eq!(stored.person("ada").tracks, ["TR_1"]);
    assert_eq!(stored.current().egress["EG_1"], "EGRESS_ACTIVE");
}

// ---- reconciliation ----

fn in_livekit(identity: &str, sid: &str) -> MediaParticipant {
    MediaParticipant {
        sid: sid.into(),
        identity: identity.into(),
        can_publish: false,
    }
}

#[tokio::test]
async fn reconciling_a_room_that_is_gone_stops_the_stream() {
    let (h, id) = Harness::with_stream(StreamStatus::Active);
    let (service, stored) = h.service();

    let events = service.reconcile_stream(id, None).await.unwrap();

    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventType::StreamStopped);
    assert_eq!(stored.current().status, StreamStatus::Stopped);
}

#[tokio::test]
async fn reconciling_heals_missed_joins_and_leaves_but_spares_token_holders() {
    let (mut h, id) = Harness::with_stream(StreamStatus::Active);
    h.issue_tokens();
    let (service, stored) = h.service();
    service
        .join(id, viewer(Identity::new("token-only").unwrap()))
        .await
        .unwrap();
    let room = h_room(&stored);
    service
        .apply_media_event(media(
            &room,
            "RM_1",
            MediaEventKind::ParticipantJoined {
                identity: "gone".into(),
                sid: "PA_gone".into(),
                can_publish: false,
            },
        ))
        .await
        .unwrap();

    let events = service
        .reconcile_stream(id, Some(&[in_livekit("walk-in", "PA_new")]))
        .await
        .unwrap();

    let kinds: Vec<EventType> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [EventType::ParticipantLeft, EventType::ParticipantJoined]
    );
    let by_name = |name: &str| stored.person(name);
    assert!(
        by_name("token-only").is_active(),
        "never connected, not reconciled away"
    );
    assert!(!by_name("gone").is_active());
    assert_eq!(by_name("walk-in").sid.as_deref(), Some("PA_new"));

    let again = service
        .reconcile_stream(id, Some(&[in_livekit("walk-in", "PA_new")]))
        .await
        .unwrap();
    assert!(again.is_empty(), "nothing left to heal");
}

fn h_room(stored: &Stored) -> String {
    stored.current().room_name.to_string()
}

/// LiveKit's report that `ada` joined `room` as `sid`, dated `at`.
fn ada_joined(room: &str, sid: &str, at: DateTime<Utc>) -> MediaEvent {
    MediaEvent {
        reported_at: Some(at),
        ..media(
            room,
            "RM_1",
            MediaEventKind::ParticipantJoined {
                identity: "ada".into(),
                sid: sid.into(),
                can_publish: false,
            },
        )
    }
}

#[tokio::test]
async fn a_livekit_report_from_the_future_cannot_make_genuine_later_reports_stale() {
    let (h, _) = Harness::with_stream(StreamStatus::Active);
    let room = h.stored.current().room_name.to_string();
    let (service, stored) = h.service();
    let joined = |sid: &str, at: DateTime<Utc>| ada_joined(&room, sid, at);
    let far_future = SystemClock.now() + chrono::TimeDelta::days(365);
    service
        .apply_media_event(joined("PA_forged", far_future))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    let genuine = service
        .apply_media_event(joined("PA_real", SystemClock.now()))
        .await
        .unwrap();

    assert!(matches!(genuine, MediaEventOutcome::Applied(_)));
    assert_eq!(stored.person("ada").sid.as_deref(), Some("PA_real"));
}

/// Now, early enough in its second that a few milliseconds more stay in it.
async fn early_in_a_second() -> DateTime<Utc> {
    let now = SystemClock.now();
    let into = now.timestamp_subsec_millis();
    if into > 800 {
        let rest = u64::from(1000 - into) + 10;
        tokio::time::sleep(std::time::Duration::from_millis(rest)).await;
    }
    SystemClock.now()
}

#[tokio::test]
async fn a_genuine_report_of_the_same_second_as_a_clamped_one_is_not_stale() {
    let (h, _) = Harness::with_stream(StreamStatus::Active);
    let room = h.stored.current().room_name.to_string();
    let (service, stored) = h.service();
    let report = |sid: &str, at: DateTime<Utc>| ada_joined(&room, sid, at);
    let now = early_in_a_second().await;
    let this_second = DateTime::from_timestamp(now.timestamp(), 0).unwrap();
    let last_second = this_second - chrono::TimeDelta::seconds(1);
    // Dated in the future: clamped to this second.
    service
        .apply_media_event(report("PA_forged", now + chrono::TimeDelta::days(1)))
        .await
        .unwrap();

    // LiveKit dates in whole seconds: a genuine report of this second, then an older one.
    let genuine = service
        .apply_media_event(report("PA_real", this_second))
        .await
        .unwrap();
    let older = service
        .apply_media_event(report("PA_old", last_second))
        .await
        .unwrap();

    assert!(
        matches!(genuine, MediaEventOutcome::Applied(_)),
        "{genuine:?}"
    );
    assert_eq!(
        older,
        MediaEventOutcome::NoChange,
        "older than what is known: stale"
    );
    assert_eq!(stored.person("ada").sid.as_deref(), Some("PA_real"));
}
