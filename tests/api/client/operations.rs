//! Every REST operation through the client, each answer typed.

use orchestrator::Settings;
use orchestrator_client::{
    CreateStream, Desired, EventType, IngestKind, IngestState, Join, ListEvents, ListParticipants,
    ListStreams, NewIngest, NewOutput, Observed, OutputKind, Role, StreamStatus, UpdateStream,
};
use orchestrator_tests::{spawn_app, spawn_app_with};
use serde_json::json;

use super::meta;

#[tokio::test]
async fn a_stream_lives_its_whole_life_through_the_client() {
    let app = spawn_app().await;
    let api = &app.api;

    let created = api
        .create_stream(
            &CreateStream::named("client-life").with_metadata(meta(json!({"title": "Launch"}))),
        )
        .answer()
        .await
        .unwrap();
    let stream = created.value;
    let id = stream.id.clone();
    let read = api.stream(&id).await.unwrap();
    let updated = api
        .update_stream(
            &id,
            &UpdateStream::metadata(meta(json!({"title": "Live", "tier": 2}))),
        )
        .if_match(1)
        .await
        .unwrap();
    let host = api.join(&id, &Join::host("ada")).await.unwrap();
    let viewer = api
        .join(
            &id,
            &Join::viewer("bob").with_metadata(meta(json!({"seat": 7}))),
        )
        .await
        .unwrap();
    let state = api.stream_state(&id).await.unwrap();
    let present = api
        .participants(
            &id,
            &ListParticipants {
                active_only: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let left = api.leave(&id, "bob").await.unwrap();
    let stopped = api.stop_stream(&id).await.unwrap();
    let listed = api
        .list_streams(&ListStreams {
            status: Some(StreamStatus::Stopped),
            ..Default::default()
        })
        .await
        .unwrap();

    assert_eq!(created.status, 201);
    assert_eq!(created.location, Some(format!("/streams/{id}")));
    assert_eq!(created.etag.as_deref(), Some("\"1\""));
    assert_eq!(
        (stream.room_name.as_str(), stream.status),
        ("client-life", StreamStatus::Active)
    );
    assert_eq!(read, stream, "a read answers what the create did");
    assert_eq!(
        (updated.version, &updated.metadata),
        (2, &meta(json!({"title": "Live", "tier": 2})))
    );
    assert_eq!(
        (host.role, host.participant_name.as_str()),
        (Role::Host, "ada")
    );
    assert_eq!(
        (viewer.role, viewer.stream_id.as_str()),
        (Role::Viewer, id.as_str())
    );
    assert!(!host.token.is_empty() && host.ws_url.starts_with("ws"));
    assert_eq!(state.seq, 4, "created, updated, two joins");
    assert_eq!(
        (
            state.active_participants,
            state.audience.hosts,
            state.audience.viewers
        ),
        (2, 1, 1)
    );
    assert_eq!(present.items.len(), 2);
    assert_eq!(present.items[1].metadata, meta(json!({"seat": 7})));
    assert!(left.participant.left_at.is_some());
    assert_eq!(left.stream.audience.active, 1);
    assert_eq!(stopped.stream.status, StreamStatus::Stopped);
    assert!(stopped.stream.stopped_at.is_some());
    assert_eq!(
        listed
            .items
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>(),
        [id.as_str()]
    );
}

#[tokio::test]
async fn pages_of_streams_participants_and_events_follow_the_link_to_the_end() {
    let app = spawn_app().await;
    let api = &app.api;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.new_stream_id().await);
    }
    for name in ["a", "b", "c", "d", "e"] {
        api.join(&ids[0], &Join::viewer(name)).await.unwrap();
    }

    let (mut streams, mut cursor) = (Vec::new(), None);
    loop {
        let page = api
            .list_streams(&ListStreams {
                limit: Some(2),
                cursor,
                ..Default::default()
            })
            .await
            .unwrap();
        streams.extend(page.items.into_iter().map(|s| s.id));
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    let (mut identities, mut cursor) = (Vec::new(), None);
    loop {
        let request = ListParticipants {
            limit: Some(2),
            cursor,
            ..Default::default()
        };
        let page = api.participants(&ids[0], &request).await.unwrap();
        identities.extend(page.items.into_iter().map(|p| p.identity));
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    let (mut events, mut after) = (Vec::new(), None);
    loop {
        let request = ListEvents {
            after_seq: after,
            limit: Some(2),
        };
        let page = api.events(&ids[0], &request).await.unwrap();
        events.extend(page.items);
        after = match page.next {
            Some(next) => Some(next.parse().unwrap()),
            None => break,
        };
    }

    assert_eq!(streams, ids, "oldest first, each once");
    assert_eq!(identities, ["a", "b", "c", "d", "e"]);
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    assert_eq!(events[0].kind, EventType::StreamCreated);
    assert_eq!(events[5].data["participant"]["identity"], "e");
}

#[tokio::test]
async fn ingest_and_outputs_are_managed_through_the_client() {
    let app = spawn_app().await;
    let api = &app.api;
    let id = app.new_stream_id().await;
    let target = "rtmps://live.example.com/app/sk-client-secret";

    let ingest = api.create_ingest(&id, &NewIngest::rtmp()).await.unwrap();
    let read = api.ingest(&id).await.unwrap();
    let rotated = api.rotate_ingest_key(&id).await.unwrap();
    api.delete_ingest(&id).await.unwrap();
    let gone = api.ingest(&id).await.unwrap_err();
    let hls = api.add_output(&id, &NewOutput::hls()).await.unwrap();
    let restream = api
        .add_output(&id, &NewOutput::rtmp([target]).named("restream"))
        .await
        .unwrap();
    let both = api.outputs(&id).await.unwrap();
    let one = api.output(&id, "restream").await.unwrap();
    let started = api.start_output(&id, "hls").answer().await.unwrap();
    let halted = api.stop_output(&id, "hls").await.unwrap();
    api.remove_output(&id, "restream").await.unwrap();
    let left = api.outputs(&id).await.unwrap();

    assert_eq!(
        (ingest.kind, ingest.state),
        (IngestKind::Rtmp, IngestState::Inactive)
    );
    assert!(!ingest.stream_key.is_empty() && !ingest.stream_key_redacted);
    assert_eq!(read, ingest);
    assert_ne!(rotated.stream_key, ingest.stream_key, "a new key");
    assert_eq!(
        (gone.status(), gone.code()),
        (Some(404), Some("ingest_not_found"))
    );
    assert_eq!(
        (hls.id.as_str(), hls.kind, hls.desired, hls.observed),
        ("hls", OutputKind::Hls, Desired::Off, Observed::Idle)
    );
    assert_eq!(
        restream.targets,
        [target],
        "whole for a key that may change the stream"
    );
    assert_eq!(both.len(), 2);
    assert_eq!(one, restream);
    assert_eq!((started.status, started.value.desired), (202, Desired::On));
    assert_eq!(halted.desired, Desired::Off);
    assert_eq!(
        left.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
        ["hls"]
    );
}

#[tokio::test]
async fn the_service_endpoints_answer_through_the_client() {
    let app = spawn_app().await;
    let api = &app.api;

    let health = api.health().await.unwrap();
    let ready = api.readiness().await.unwrap();
    let metrics = api.metrics().await.unwrap();
    let ticket = api.ws_ticket().await.unwrap();

    assert_eq!(health.status, "ok");
    assert_eq!(health.version, env!("CARGO_PKG_VERSION"));
    assert!(ready.is_ready(), "{ready:?}");
    assert_eq!(
        (ready.checks.store.as_str(), ready.checks.livekit.as_str()),
        ("up", "up")
    );
    assert!(metrics.contains("orchestrator_"), "Prometheus text");
    assert!(!ticket.ticket.is_empty());
    assert_eq!(ticket.expires_in, 30);
}

#[tokio::test]
async fn an_instance_that_is_not_ready_is_a_readiness_answer_not_an_error() {
    // LiveKit's address accepts connections but never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut settings = Settings::for_tests();
    settings.livekit.url = format!("http://{}", listener.local_addr().unwrap());
    settings.livekit.api_key = "key".into();
    settings.livekit.api_secret = "a-secret-of-at-least-32-characters-long".into();
    settings.livekit.request_timeout_secs = 1;
    let app = spawn_app_with(settings).await;

    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    let not_ready = loop {
        let readiness = app.api.readiness().answer().await.unwrap();
        if !readiness.value.is_ready() {
            break readiness;
        }
        assert!(tokio::time::Instant::now() < deadline, "still ready");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };

    assert_eq!(not_ready.status, 503);
    assert_eq!(not_ready.attempts, 1, "the answer, not retried");
    assert_eq!(
        not_ready.value.reason.as_deref(),
        Some("livekit_unavailable")
    );
    assert_eq!(not_ready.value.checks.livekit, "down");
}
