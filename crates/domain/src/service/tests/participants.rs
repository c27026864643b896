//! Joining, leaving and reading participants.

use super::*;

// ---- join ----

#[tokio::test]
async fn join_returns_a_token_for_the_role_and_records_one_participant() {
    let (service, stored, id) = Harness::joinable_stream();

    let ticket = service
        .join(
            id,
            JoinStream {
                identity: ada(),
                role: Role::Host,
                metadata: None,
            },
        )
        .await
        .unwrap();

    assert_eq!(ticket.token, "token-for-ada-host");
    assert_eq!(ticket.ws_url, "ws://media.test");
    assert_eq!((ticket.stream_id, ticket.identity.clone()), (id, ada()));
    assert_eq!(stored.people().len(), 1);
    assert_eq!(stored.current().audience.hosts, 1);
    assert_eq!(
        stored.event_kinds().last(),
        Some(&EventType::ParticipantJoined)
    );
}

#[tokio::test]
async fn joining_again_gives_a_fresh_token_but_no_second_joined_event() {
    let (service, stored, id) = Harness::joinable_stream();
    service.join(id, viewer(ada())).await.unwrap();
    let joined_at = stored.person("ada").joined_at;

    let again = service.join(id, viewer(ada())).await.unwrap();

    assert_eq!(again.token, "token-for-ada-viewer");
    assert_eq!(stored.person("ada").joined_at, joined_at);
    let joins = stored
        .event_kinds()
        .into_iter()
        .filter(|k| *k == EventType::ParticipantJoined)
        .count();
    assert_eq!(joins, 1);
}

#[tokio::test]
async fn joining_a_stream_that_is_not_active_gets_no_token() {
    for status in [
        StreamStatus::Stopping,
        StreamStatus::Stopped,
        StreamStatus::Error,
        StreamStatus::Creating,
    ] {
        let (mut h, id) = Harness::with_stream(status);
        h.tokens.expect_issue().never();
        let (service, _) = h.service();

        assert_eq!(
            service.join(id, viewer(ada())).await,
            Err(StreamError::Rejected(TransitionError::NotActive(status)))
        );
    }
}

#[tokio::test]
async fn later_joins_of_a_stream_sign_for_its_room_without_reading_the_stream_again() {
    let (mut h, id) = Harness::with_stream(StreamStatus::Active);
    h.tokens
        .expect_issue()
        .returning(|grant| Ok(format!("token-for-{}", grant.room)));
    h.tokens
        .expect_ws_url()
        .return_const("ws://media.test".to_owned());
    let (service, stored) = h.service();
    let room = stored.current().room_name;

    for name in ["ada", "bob", "cy"] {
        let ticket = service.join(id, viewer(identity(name))).await.unwrap();
        assert_eq!(ticket.token, format!("token-for-{room}"));
    }

    assert_eq!(stored.people().len(), 3);
    assert_eq!(stored.reads.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_stream_stopped_after_earlier_joins_still_refuses_the_next_join() {
    let (service, stored, id) = Harness::joinable_stream();
    service.join(id, viewer(ada())).await.unwrap();
    stored.stream.lock().unwrap().as_mut().unwrap().status = StreamStatus::Stopped;

    let refused = service.join(id, viewer(identity("bob"))).await;

    assert_eq!(
        refused,
        Err(StreamError::Rejected(TransitionError::NotActive(
            StreamStatus::Stopped
        )))
    );
    assert_eq!(stored.people().len(), 1);
}

#[tokio::test]
async fn joining_an_unknown_stream_is_not_found() {
    let mut h = Harness::new();
    h.repo.expect_get().returning(|_| Ok(None));
    h.tokens.expect_issue().never();
    let (service, _) = h.service();

    let err = service
        .join(StreamId::from_uuid(Uuid::new_v4()), viewer(ada()))
        .await
        .unwrap_err();

    assert!(matches!(err, StreamError::NotFound(_)));
}

#[tokio::test]
async fn a_token_that_cannot_be_signed_changes_nothing() {
    let (mut h, id) = Harness::with_stream(StreamStatus::Active);
    h.tokens
        .expect_issue()
        .returning(|_| Err(TokenError("no secret".into())));
    let (service, stored) = h.service();

    assert!(matches!(
        service.join(id, viewer(ada())).await,
        Err(StreamError::Internal(_))
    ));
    assert!(stored.people().is_empty());
}

// ---- leave ----

#[tokio::test]
async fn leave_disconnects_the_media_session_and_records_one_leave() {
    let (mut h, id) = Harness::with_stream(StreamStatus::Active);
    h.issue_tokens();
    h.media
        .expect_remove_participant()
        .withf(|_, identity| identity.as_str() == "ada")
        .times(1)
        .returning(|_, _| Ok(()));
    let (service, stored) = h.service();
    service.join(id, viewer(ada())).await.unwrap();

    let first = service.leave(id, ada()).await.unwrap();
    let second = service.leave(id, ada()).await.unwrap();

    assert!(first.participant.left_at.is_some());
    assert_eq!(first.stream.audience.active, 0);
    assert_eq!(second.participant.left_at, first.participant.left_at);
    let leaves = stored
        .event_kinds()
        .into_iter()
        .filter(|k| *k == EventType::ParticipantLeft)
        .count();
    assert_eq!(leaves, 1);
}

#[tokio::test]
async fn leave_when_livekit_no_longer_has_the_participant_still_leaves() {
    let (mut h, id) = Harness::with_stream(StreamStatus::Active);
    h.issue_tokens();
    h.media
        .expect_remove_participant()
        .returning(|_, i| Err(MediaError::NotFound(i.to_string())));
    let (service, _) = h.service();
    service.join(id, viewer(ada())).await.unwrap();

    assert!(service
        .leave(id, ada())
        .await
        .unwrap()
        .participant
        .left_at
        .is_some());
}

#[tokio::test]
async fn leave_while_livekit_is_down_changes_nothing() {
    let (mut h, id) = Harness::with_stream(StreamStatus::Active);
    h.issue_tokens();
    h.media
        .expect_remove_participant()
        .returning(|_, _| Err(MediaError::Unavailable("down".into())));
    let (service, stored) = h.service();
    service.join(id, viewer(ada())).await.unwrap();

    assert_eq!(
        service.leave(id, ada()).await,
        Err(StreamError::MediaUnavailable("down".into()))
    );
    assert!(stored.person("ada").is_active());
}

#[tokio::test]
async fn leaving_a_stream_one_never_joined_is_participant_not_found() {
    let (mut h, id) = Harness::with_stream(StreamStatus::Active);
    h.media.expect_remove_participant().never();
    let (service, _) = h.service();

    assert_eq!(
        service.leave(id, ada()).await,
        Err(StreamError::Rejected(TransitionError::ParticipantNotFound(
            ada()
        )))
    );
}

// ---- reading participants ----

async fn stream_with_people(names: &[&str]) -> (StreamService, Stored, StreamId) {
    let (service, stored, id) = Harness::joinable_stream();
    for name in names {
        let identity = Identity::new(*name).unwrap();
        service.join(id, viewer(identity)).await.unwrap();
    }
    (service, stored, id)
}

#[tokio::test]
async fn a_small_stream_is_shown_with_everyone_who_joined() {
    let (service, _, id) = stream_with_people(&["ada", "bob"]).await;

    let view = service.view(id).await.unwrap();

    let names: Vec<&str> = view
        .participants
        .iter()
        .map(|p| p.identity.as_str())
        .collect();
    assert_eq!(names, ["ada", "bob"]);
    assert!(!view.truncated);
    assert_eq!(view.stream.audience.active, 2);
}

#[tokio::test]
async fn a_large_audience_is_shown_as_counters_only() {
    let (h, id) = Harness::with_stream(StreamStatus::Active);
    h.stored.stream.lock().unwrap().as_mut().unwrap().audience = Audience {
        active: 100_000,
        hosts: 1,
        viewers: 99_999,
        connected: 0,
        total_joined: 100_000,
    };
    let (service, _) = h.service();

    let view = service.view(id).await.unwrap();

    assert!(view.participants.is_empty());
    assert!(view.truncated);
    assert_eq!(view.stream.audience.active, 100_000);
}

#[tokio::test]
async fn a_page_of_streams_shows_small_audiences_inline_and_reads_nothing_of_a_large_one() {
    let (mut h, small) = Harness::with_stream(StreamStatus::Active);
    h.issue_tokens();
    let large = large_audience_stream(100_000);
    let (stored, listed_large) = (h.stored.clone(), large.clone());
    h.repo.expect_list().returning(move |_| {
        Ok(Page {
            items: vec![stored.current(), listed_large.clone()],
            next: None,
        })
    });
    let (service, stored) = h.service();
    for name in ["ada", "bob"] {
        service
            .join(small, viewer(Identity::new(name).unwrap()))
            .await
            .unwrap();
    }

    let page = service.list_views(ListStreams::default()).await.unwrap();

    let [shown_small, shown_large] = page.items.as_slice() else {
        panic!("two streams listed: {page:?}");
    };
    let names: Vec<&str> = shown_small
        .participants
        .iter()
        .map(|p| p.identity.as_str())
        .collect();
    assert_eq!(names, ["ada", "bob"]);
    assert!(!shown_small.truncated);
    assert!(shown_large.participants.is_empty() && shown_large.truncated);
    assert_eq!(shown_large.stream.audience.active, 100_000);
    assert_eq!(
        *stored.participant_reads.lock().unwrap(),
        vec![small],
        "one read for the small audience, none for the large one"
    );
}

/// An active stream of `people` present, known by its counters only.
fn large_audience_stream(people: u64) -> Stream {
    let id = StreamId::from_uuid(Uuid::new_v4());
    let mut stream = Stream::new_active(
        id,
        RoomName::for_stream(&id),
        None,
        Metadata::default(),
        SystemClock.now(),
    );
    stream.audience = Audience {
        active: people,
        hosts: 1,
        viewers: people - 1,
        connected: people,
        total_joined: people,
    };
    stream
}

#[tokio::test]
async fn participants_page_in_order_of_first_join_with_a_cursor() {
    let (service, _, id) = stream_with_people(&["a", "b", "c"]).await;
    let request = |cursor| ListParticipants {
        active_only: false,
        limit: Some(2),
        cursor,
    };

    let first = service.participants(id, request(None)).await.unwrap();
    let second = service
        .participants(id, request(first.next.clone()))
        .await
        .unwrap();

    let names = |page: &ParticipantPage| -> Vec<String> {
        page.items.iter().map(|p| p.identity.to_string()).collect()
    };
    assert_eq!(names(&first), ["a", "b"]);
    assert_eq!(names(&second), ["c"]);
    assert_eq!(second.next, None);
}

#[tokio::test]
async fn only_present_participants_when_asked_and_nobody_once_stopped() {
    let (mut h, id) = Harness::with_stream(StreamStatus::Active);
    h.issue_tokens();
    h.media.expect_remove_participant().returning(|_, _| Ok(()));
    h.media.expect_delete_room().returning(|_| Ok(()));
    let (service, _) = h.service();
    for name in ["ada", "bob"] {
        service
            .join(id, viewer(Identity::new(name).unwrap()))
            .await
            .unwrap();
    }
    service.leave(id, ada()).await.unwrap();
    let present = ListParticipants {
        active_only: true,
        ..ListParticipants::default()
    };

    let before_stop = service.participants(id, present.clone()).await.unwrap();
    service.stop(id).await.unwrap();
    let after_stop = service.participants(id, present).await.unwrap();
    let everyone = service
        .participants(id, ListParticipants::default())
        .await
        .unwrap();

    assert_eq!(before_stop.items.len(), 1);
    assert_eq!(before_stop.items[0].identity.as_str(), "bob");
    assert!(after_stop.items.is_empty());
    assert!(
        everyone.items.iter().all(|p| p.left_at.is_some()),
        "everyone left when the stream stopped"
    );
}

#[tokio::test]
async fn participant_pages_refuse_sizes_outside_one_to_a_thousand() {
    let (service, _, id) = stream_with_people(&[]).await;
    for limit in [0, 1001] {
        let request = ListParticipants {
            limit: Some(limit),
            ..ListParticipants::default()
        };
        assert!(matches!(
            service.participants(id, request).await,
            Err(StreamError::Invalid(_))
        ));
    }
}
