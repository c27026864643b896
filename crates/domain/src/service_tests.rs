//! The use cases against mockall mocks of every port.

use std::sync::{Arc, Mutex};

use mockall::predicate::eq;

use super::*;
use crate::event::EventType;
use crate::ports::{
    MediaParticipant, MediaRoom, MockMediaServer, MockStreamRepository, MockTokenIssuer, RandomIds,
    SystemClock,
};
use crate::Audience;

/// A stream held by a mocked repository that applies changes with the real [`Stream::apply`]
/// and [`ParticipantChange::apply`], its participant records in order of first join, plus
/// every event it recorded.
#[derive(Clone, Default)]
struct Stored {
    stream: Arc<Mutex<Option<Stream>>>,
    people: Arc<Mutex<Vec<Participant>>>,
    events: Arc<Mutex<Vec<StreamEvent>>>,
}

impl Stored {
    fn current(&self) -> Stream {
        self.stream
            .lock()
            .unwrap()
            .clone()
            .expect("a stream is stored")
    }

    fn people(&self) -> Vec<Participant> {
        self.people.lock().unwrap().clone()
    }

    fn person(&self, name: &str) -> Participant {
        self.people()
            .into_iter()
            .find(|p| p.identity.as_str() == name)
            .expect("the participant is stored")
    }

    fn apply_participant(
        &self,
        change: &ParticipantChange,
        ctx: &ChangeContext,
    ) -> Result<ParticipantApplied, ApplyError> {
        let mut slot = self.stream.lock().unwrap();
        let stream = slot.as_mut().ok_or(ApplyError::NotFound)?;
        let mut people = self.people.lock().unwrap();
        let index = people.iter().position(|p| &p.identity == change.identity());
        let (applied, decision) = change.apply(stream, index.map(|i| &people[i]), ctx)?;
        if let (Some(decision), Some(event)) = (decision, &applied.event) {
            match index {
                Some(i) => people[i] = decision.participant,
                None => people.push(decision.participant),
            }
            stream.audience = applied.audience;
            stream.seq = event.seq;
            self.events.lock().unwrap().push(event.clone());
        }
        Ok(applied)
    }

    fn page(&self, query: &ParticipantQuery) -> ParticipantPage {
        let start = query
            .after
            .as_ref()
            .map_or(0, |c| c.as_str().parse::<usize>().unwrap());
        let people = self.people();
        let matching: Vec<(usize, Participant)> = people
            .into_iter()
            .enumerate()
            .skip(start)
            .filter(|(_, p)| !query.active_only || p.is_active())
            .collect();
        let next = (matching.len() > query.limit)
            .then(|| Cursor::new((matching[query.limit - 1].0 + 1).to_string()));
        ParticipantPage {
            items: matching
                .into_iter()
                .take(query.limit)
                .map(|(_, p)| p)
                .collect(),
            next,
        }
    }

    fn event_kinds(&self) -> Vec<EventType> {
        self.events.lock().unwrap().iter().map(|e| e.kind).collect()
    }
}

struct Harness {
    repo: MockStreamRepository,
    media: MockMediaServer,
    tokens: MockTokenIssuer,
    stored: Stored,
}

impl Harness {
    fn new() -> Self {
        Self {
            repo: MockStreamRepository::new(),
            media: MockMediaServer::new(),
            tokens: MockTokenIssuer::new(),
            stored: Stored::default(),
        }
    }

    /// A harness whose repository holds one stream with `status` (created through `create`'s
    /// own recording, so seq and version are real).
    fn with_stream(status: StreamStatus) -> (Self, StreamId) {
        let mut harness = Self::new();
        let id = StreamId::from_uuid(Uuid::new_v4());
        let mut stream = Stream::new_active(
            id,
            RoomName::for_stream(&id),
            Some("RM_1".into()),
            Metadata::default(),
            SystemClock.now(),
        );
        let created = stream.record_creation(&ChangeContext {
            event_id: Uuid::new_v4(),
            at: stream.created_at,
            instance_id: "test".into(),
        });
        stream.status = status;
        *harness.stored.stream.lock().unwrap() = Some(stream);
        harness.stored.events.lock().unwrap().push(created);
        harness.serve_stored_stream();
        (harness, id)
    }

    fn serve_stored_stream(&mut self) {
        let stored = self.stored.clone();
        self.repo
            .expect_get()
            .returning(move |_| Ok(stored.stream.lock().unwrap().clone()));
        let stored = self.stored.clone();
        self.repo.expect_find_live_by_room().returning(move |_| {
            Ok(stored
                .stream
                .lock()
                .unwrap()
                .clone()
                .filter(|s| !s.is_stopped()))
        });
        let stored = self.stored.clone();
        self.repo
            .expect_apply_participant()
            .returning(move |_, change, ctx| stored.apply_participant(&change, &ctx));
        let stored = self.stored.clone();
        self.repo
            .expect_participant()
            .returning(move |_, identity| {
                Ok(stored
                    .people()
                    .into_iter()
                    .find(|p| &p.identity == identity))
            });
        let stored = self.stored.clone();
        self.repo
            .expect_participants()
            .returning(move |_, query| Ok(stored.page(&query)));
        let stored = self.stored.clone();
        self.repo.expect_apply().returning(move |_, change, ctx| {
            let mut slot = stored.stream.lock().unwrap();
            let stream = slot.as_ref().ok_or(ApplyError::NotFound)?;
            let applied = stream.apply(&change, &ctx)?;
            *slot = Some(applied.stream.clone());
            stored.events.lock().unwrap().extend(applied.event.clone());
            Ok(applied)
        });
    }

    fn issue_tokens(&mut self) {
        self.tokens
            .expect_issue()
            .returning(|grant| Ok(format!("token-for-{}-{}", grant.identity, grant.role)));
        self.tokens
            .expect_ws_url()
            .return_const("ws://media.test".to_owned());
    }

    fn service(self) -> (StreamService, Stored) {
        let stored = self.stored.clone();
        let ports = Ports {
            streams: Arc::new(self.repo),
            media: Arc::new(self.media),
            tokens: Arc::new(self.tokens),
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
        };
        (StreamService::new(ports, "test-instance"), stored)
    }
}

fn room(sid: &str) -> MediaRoom {
    MediaRoom {
        sid: sid.into(),
        name: "ignored".into(),
        num_participants: 0,
    }
}

fn media(room: &str, room_sid: &str, kind: MediaEventKind) -> MediaEvent {
    MediaEvent {
        room: room.into(),
        room_sid: room_sid.into(),
        reported_at: None,
        kind,
    }
}

fn ada() -> Identity {
    Identity::new("ada").unwrap()
}

fn viewer(identity: Identity) -> JoinStream {
    JoinStream {
        identity,
        role: Role::Viewer,
        metadata: None,
    }
}

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
            metadata: Metadata::default(),
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
            metadata: Metadata::default(),
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
        Err(StreamError::VersionConflict {
            expected: 7,
            current: 1
        })
    );
    assert_eq!(
        service
            .update(id, update(ExpectedVersion::IfMatch(7)))
            .await,
        Err(StreamError::PreconditionFailed {
            expected: 7,
            current: 1
        })
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
        StreamError::InvalidTransition {
            from: StreamStatus::Active,
            to: StreamStatus::Creating
        }
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
        Err(StreamError::InvalidTransition {
            from: StreamStatus::Creating,
            ..
        })
    ));
}

// ---- join ----

#[tokio::test]
async fn join_returns_a_token_for_the_role_and_records_one_participant() {
    let (mut h, id) = Harness::with_stream(StreamStatus::Active);
    h.issue_tokens();
    let (service, stored) = h.service();

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
    let (mut h, id) = Harness::with_stream(StreamStatus::Active);
    h.issue_tokens();
    let (service, stored) = h.service();
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
            Err(StreamError::NotActive(status))
        );
    }
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
        Err(StreamError::ParticipantNotFound(ada()))
    );
}

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
        egress_id: "EG_1".into(),
        status: "EGRESS_ACTIVE".into(),
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

// ---- reading participants ----

async fn stream_with_people(names: &[&str]) -> (StreamService, Stored, StreamId) {
    let (mut h, id) = Harness::with_stream(StreamStatus::Active);
    h.issue_tokens();
    let (service, stored) = h.service();
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

#[tokio::test]
async fn a_livekit_report_from_the_future_cannot_make_genuine_later_reports_stale() {
    let (h, _) = Harness::with_stream(StreamStatus::Active);
    let room = h.stored.current().room_name.to_string();
    let (service, stored) = h.service();
    let joined = |sid: &str, at: DateTime<Utc>| MediaEvent {
        reported_at: Some(at),
        ..media(
            &room,
            "RM_1",
            MediaEventKind::ParticipantJoined {
                identity: "ada".into(),
                sid: sid.into(),
                can_publish: false,
            },
        )
    };
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
