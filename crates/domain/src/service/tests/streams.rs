//! Streams themselves: create, list, read, update, stop.

use super::*;

// ---- create ----

#[tokio::test]
async fn create_makes_the_livekit_room_then_stores_an_active_stream_with_event_one() {
    let mut h = Harness::new();
    h.repo.expect_find_live_by_room().returning(|_| Ok(None));
    h.media
        .expect_create_room()
        .with(eq(RoomName::new("studio").unwrap()))
        .times(1)
        .returning(|_| Ok(room("RM_42")));
    h.repo
        .expect_insert()
        .withf(|stream, event| {
            event.seq == 1 && event.kind == EventType::StreamCreated && stream.seq == 1
        })
        .times(1)
        .returning(|_, _| Ok(()));
    let (service, _) = h.service();

    let stream = service
        .create(CreateStream {
            room_name: Some(RoomName::new("studio").unwrap()),
            ..CreateStream::default()
        })
        .await
        .unwrap();

    assert_eq!(stream.status, StreamStatus::Active);
    assert_eq!(stream.room_sid.as_deref(), Some("RM_42"));
    assert_eq!(stream.version, 1);
}

#[tokio::test]
async fn create_without_a_room_name_uses_room_dash_id() {
    let mut h = Harness::new();
    h.repo.expect_find_live_by_room().returning(|_| Ok(None));
    h.media.expect_create_room().returning(|_| Ok(room("RM_1")));
    h.repo.expect_insert().returning(|_, _| Ok(()));
    let (service, _) = h.service();

    let stream = service.create(CreateStream::default()).await.unwrap();

    assert_eq!(stream.room_name, RoomName::for_stream(&stream.id));
}

#[tokio::test]
async fn create_with_a_taken_room_name_conflicts_without_calling_livekit() {
    let (mut h, _) = Harness::with_stream(StreamStatus::Active);
    h.media.expect_create_room().never();
    h.repo.expect_insert().never();
    let taken = h.stored.current().room_name;
    let (service, _) = h.service();

    let err = service
        .create(CreateStream {
            room_name: Some(taken.clone()),
            ..CreateStream::default()
        })
        .await
        .unwrap_err();

    assert_eq!(err, StreamError::RoomNameTaken(taken));
}

#[tokio::test]
async fn create_that_loses_the_insert_race_reports_the_room_name_taken() {
    let mut h = Harness::new();
    h.repo.expect_find_live_by_room().returning(|_| Ok(None));
    h.media.expect_create_room().returning(|_| Ok(room("RM_1")));
    h.repo
        .expect_insert()
        .returning(|stream, _| Err(InsertError::RoomNameTaken(stream.room_name)));
    let (service, _) = h.service();

    let err = service.create(CreateStream::default()).await.unwrap_err();

    assert!(matches!(err, StreamError::RoomNameTaken(_)));
}

#[tokio::test]
async fn create_while_livekit_is_down_is_unavailable_and_stores_nothing() {
    let mut h = Harness::new();
    h.repo.expect_find_live_by_room().returning(|_| Ok(None));
    h.media
        .expect_create_room()
        .returning(|_| Err(MediaError::Unavailable("connection refused".into())));
    h.repo.expect_insert().never();
    let (service, _) = h.service();

    let err = service.create(CreateStream::default()).await.unwrap_err();

    assert_eq!(
        err,
        StreamError::MediaUnavailable("connection refused".into())
    );
}

#[tokio::test]
async fn create_refused_by_livekit_is_a_bad_gateway_error() {
    let mut h = Harness::new();
    h.repo.expect_find_live_by_room().returning(|_| Ok(None));
    h.media
        .expect_create_room()
        .returning(|_| Err(MediaError::Rejected("unauthenticated".into())));
    h.repo.expect_insert().never();
    let (service, _) = h.service();

    let err = service.create(CreateStream::default()).await.unwrap_err();

    assert_eq!(err, StreamError::MediaRejected("unauthenticated".into()));
}

#[tokio::test]
async fn create_while_the_store_is_down_is_unavailable() {
    let mut h = Harness::new();
    h.repo
        .expect_find_live_by_room()
        .returning(|_| Err(StoreError::Unavailable("redis down".into())));
    h.media.expect_create_room().never();
    let (service, _) = h.service();

    let err = service.create(CreateStream::default()).await.unwrap_err();

    assert_eq!(err, StreamError::StoreUnavailable("redis down".into()));
}

// ---- list and get ----

#[tokio::test]
async fn list_refuses_page_sizes_outside_one_to_a_thousand() {
    let (service, _) = Harness::new().service();
    for limit in [0, 1001] {
        let err = service
            .list(ListStreams {
                limit: Some(limit),
                ..ListStreams::default()
            })
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            StreamError::Invalid(ValidationError { field: "limit", .. })
        ));
    }
}

#[tokio::test]
async fn list_passes_filter_cursor_and_default_limit_to_the_repository() {
    let mut h = Harness::new();
    h.repo
        .expect_list()
        .with(eq(ListQuery {
            status: Some(StreamStatus::Active),
            after: Some(Cursor::new("c1")),
            limit: ListStreams::DEFAULT_LIMIT,
        }))
        .returning(|_| {
            Ok(Page {
                items: vec![],
                next: None,
            })
        });
    let (service, _) = h.service();

    let page = service
        .list(ListStreams {
            status: Some(StreamStatus::Active),
            limit: None,
            cursor: Some(Cursor::new("c1")),
        })
        .await
        .unwrap();

    assert!(page.items.is_empty());
}

#[tokio::test]
async fn list_with_a_foreign_cursor_is_invalid_input() {
    let mut h = Harness::new();
    h.repo
        .expect_list()
        .returning(|_| Err(ListError::InvalidCursor));
    let (service, _) = h.service();

    let err = service.list(ListStreams::default()).await.unwrap_err();

    assert!(matches!(
        err,
        StreamError::Invalid(ValidationError {
            field: "cursor",
            ..
        })
    ));
}

#[tokio::test]
async fn get_of_an_unknown_or_malformed_id_is_not_found() {
    let mut h = Harness::new();
    h.repo.expect_get().returning(|_| Ok(None));
    let (service, _) = h.service();
    let id = StreamId::from_uuid(Uuid::new_v4());

    assert_eq!(
        service.get(id).await,
        Err(StreamError::NotFound(id.to_string()))
    );
    assert_eq!(
        StreamService::parse_id("nope"),
        Err(StreamError::NotFound("nope".into()))
    );
}

#[tokio::test]
async fn a_store_returning_unreadable_data_is_an_internal_error() {
    let mut h = Harness::new();
    h.repo
        .expect_get()
        .returning(|_| Err(StoreError::Corrupt("bad json".into())));
    let (service, _) = h.service();

    let err = service
        .get(StreamId::from_uuid(Uuid::new_v4()))
        .await
        .unwrap_err();

    assert_eq!(err, StreamError::Internal("bad json".into()));
}

// ---- update ----

#[tokio::test]
async fn update_applies_status_and_metadata_in_one_event() {
    let (h, id) = Harness::with_stream(StreamStatus::Active);
    let (service, stored) = h.service();

    let stream = service
        .update(
            id,
            UpdateStream {
                status: Some(StreamStatus::Error),
                metadata: Some(
                    Metadata::from_value("metadata", serde_json::json!({"a": 1})).unwrap(),
                ),
                expected: Some(ExpectedVersion::Body(1)),
            },
        )
        .await
        .unwrap();

    assert_eq!(stream.status, StreamStatus::Error);
    assert_eq!(stream.version, 2);
    assert_eq!(
        stored.event_kinds(),
        [EventType::StreamCreated, EventType::StreamUpdated]
    );
}

#[tokio::test]
async fn update_with_a_stale_version_or_etag_changes_nothing() {
    let (h, id) = Harness::with_stream(StreamStatus::Active);
    let (service, stored) = h.service();
    let update = |expected| UpdateStream {
        status: Some(StreamStatus::Error),
        metadata: None,
        expected: Some(expected),
    };

    assert_eq!(
        service.update(id, update(ExpectedVersion::Body(7))).await,
        Err(StreamError::Rejected(TransitionError::VersionConflict {
            expected: 7,
            current: 1
        }))
    );
    assert_eq!(
        service
            .update(id, update(ExpectedVersion::IfMatch(7)))
            .await,
        Err(StreamError::Rejected(TransitionError::PreconditionFailed {
            expected: 7,
            current: 1
        }))
    );
    assert_eq!(stored.current().status, StreamStatus::Active);
    assert_eq!(stored.event_kinds(), [EventType::StreamCreated]);
}

#[tokio::test]
async fn update_to_a_forbidden_status_is_an_invalid_transition() {
    let (h, id) = Harness::with_stream(StreamStatus::Active);
    let (service, _) = h.service();

    let err = service
        .update(
            id,
            UpdateStream {
                status: Some(StreamStatus::Creating),
                ..UpdateStream::default()
            },
        )
        .await
        .unwrap_err();

    assert_eq!(
        err,
        StreamError::Rejected(TransitionError::InvalidTransition {
            from: StreamStatus::Active,
            to: StreamStatus::Creating
        })
    );
}

#[tokio::test]
async fn update_to_stopped_runs_the_stop_procedure() {
    let (mut h, id) = Harness::with_stream(StreamStatus::Active);
    h.media.expect_delete_room().times(1).returning(|_| Ok(()));
    let (service, stored) = h.service();

    let stream = service
        .update(
            id,
            UpdateStream {
                status: Some(StreamStatus::Stopped),
                ..UpdateStream::default()
            },
        )
        .await
        .unwrap();

    assert_eq!(stream.status, StreamStatus::Stopped);
    assert_eq!(
        stored.event_kinds(),
        [
            EventType::StreamCreated,
            EventType::StreamUpdated,
            EventType::StreamStopped
        ]
    );
}

#[tokio::test]
async fn update_of_an_unknown_stream_is_not_found() {
    let mut h = Harness::new();
    h.repo
        .expect_apply()
        .returning(|_, _, _| Err(ApplyError::NotFound));
    let (service, _) = h.service();
    let id = StreamId::from_uuid(Uuid::new_v4());

    let err = service
        .update(id, UpdateStream::default())
        .await
        .unwrap_err();

    assert_eq!(err, StreamError::NotFound(id.to_string()));
}

// ---- stop ----

#[tokio::test]
async fn stop_deletes_the_room_between_stopping_and_stopped() {
    let (mut h, id) = Harness::with_stream(StreamStatus::Active);
    let stored = h.stored.clone();
    h.media.expect_delete_room().times(1).returning(move |_| {
        assert_eq!(stored.current().status, StreamStatus::Stopping);
        Ok(())
    });
    let (service, stored) = h.service();

    let stream = service.stop(id).await.unwrap();

    assert_eq!(stream.status, StreamStatus::Stopped);
    assert!(stream.stopped_at.is_some());
    assert_eq!(
        stored.event_kinds(),
        [
            EventType::StreamCreated,
            EventType::StreamUpdated,
            EventType::StreamStopped
        ]
    );
}

#[tokio::test]
async fn stopping_a_stopped_stream_calls_nothing_and_records_nothing() {
    let (mut h, id) = Harness::with_stream(StreamStatus::Active);
    h.media.expect_delete_room().times(1).returning(|_| Ok(()));
    let (service, stored) = h.service();
    service.stop(id).await.unwrap();

    let again = service.stop(id).await.unwrap();

    assert_eq!(again.status, StreamStatus::Stopped);
    assert_eq!(stored.event_kinds().len(), 3);
}

#[tokio::test]
async fn stop_when_the_room_is_already_gone_still_stops() {
    let (mut h, id) = Harness::with_stream(StreamStatus::Active);
    h.media
        .expect_delete_room()
        .returning(|room| Err(MediaError::NotFound(room.to_string())));
    let (service, _) = h.service();

    assert_eq!(
        service.stop(id).await.unwrap().status,
        StreamStatus::Stopped
    );
}

#[tokio::test]
async fn stop_while_livekit_is_down_stays_stopping_and_resumes_on_retry() {
    let (mut h, id) = Harness::with_stream(StreamStatus::Active);
    let mut calls = 0;
    h.media.expect_delete_room().times(2).returning(move |_| {
        calls += 1;
        if calls == 1 {
            Err(MediaError::Unavailable("timeout".into()))
        } else {
            Ok(())
        }
    });
    let (service, stored) = h.service();

    assert_eq!(
        service.stop(id).await,
        Err(StreamError::MediaUnavailable("timeout".into()))
    );
    assert_eq!(stored.current().status, StreamStatus::Stopping);

    assert_eq!(
        service.stop(id).await.unwrap().status,
        StreamStatus::Stopped
    );
    assert_eq!(
        stored.event_kinds(),
        [
            EventType::StreamCreated,
            EventType::StreamUpdated,
            EventType::StreamStopped
        ]
    );
}

#[tokio::test]
async fn a_creating_stream_cannot_be_stopped() {
    let (mut h, id) = Harness::with_stream(StreamStatus::Creating);
    h.media.expect_delete_room().never();
    let (service, _) = h.service();

    assert!(matches!(
        service.stop(id).await,
        Err(StreamError::Rejected(TransitionError::InvalidTransition {
            from: StreamStatus::Creating,
            ..
        }))
    ));
}

// ---- the event log ----

#[tokio::test]
async fn the_event_log_pages_after_a_seq_oldest_first() {
    let (mut h, id) = Harness::with_stream(StreamStatus::Active);
    h.issue_tokens();
    let (service, _) = h.service();
    for name in ["a", "b", "c"] {
        service
            .join(id, viewer(Identity::new(name).unwrap()))
            .await
            .unwrap();
    }
    let page = |after_seq| ListEvents {
        after_seq,
        limit: Some(2),
    };

    let first = service.events(id, page(0)).await.unwrap();
    let second = service
        .events(id, page(first.next_after_seq.unwrap()))
        .await
        .unwrap();

    let seqs =
        |p: &crate::service::commands::EventPage| p.items.iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!((seqs(&first), first.next_after_seq), (vec![1, 2], Some(2)));
    assert_eq!((seqs(&second), second.next_after_seq), (vec![3, 4], None));
}

#[tokio::test]
async fn the_event_log_of_an_unknown_stream_is_not_found() {
    let mut h = Harness::new();
    h.repo.expect_get().returning(|_| Ok(None));
    let (service, _) = h.service();

    let err = service
        .events(StreamId::from_uuid(Uuid::new_v4()), ListEvents::default())
        .await
        .unwrap_err();

    assert!(matches!(err, StreamError::NotFound(_)));
}
