//! The gRPC API (`livestream.orchestrator.v1.StreamService` on GRPC_PORT): `Subscribe` streams
//! a stream's events once each, in seq order, live or replayed (viewers' folded into audience
//! updates when asked); reflection and health work without the proto file. The unary RPCs are
//! in grpc_unary.rs.

use std::time::Duration;

use orchestrator::Settings;
use orchestrator_grpc::proto::stream_event::EventData;
use orchestrator_grpc::proto::{
    self, GetStreamStateRequest, ParticipantRole, StreamEventType, SubscribeRequest,
};
use orchestrator_tests::{spawn_app, spawn_app_with, GrpcClient, TestApp};
use reqwest::StatusCode;
use serde_json::json;
use tonic::{Code, Streaming};

const WAIT: Duration = Duration::from_secs(5);

async fn subscribe(
    client: &mut GrpcClient,
    stream_id: &str,
    after_seq: Option<u64>,
) -> Streaming<proto::StreamEvent> {
    client
        .subscribe(SubscribeRequest {
            stream_id: stream_id.to_owned(),
            after_seq,
            ..SubscribeRequest::default()
        })
        .await
        .unwrap()
        .into_inner()
}

async fn next(
    events: &mut Streaming<proto::StreamEvent>,
) -> Result<Option<proto::StreamEvent>, tonic::Status> {
    tokio::time::timeout(WAIT, events.message())
        .await
        .expect("a message within 5 s")
}

async fn event(events: &mut Streaming<proto::StreamEvent>) -> proto::StreamEvent {
    next(events).await.unwrap().expect("an event, not the end")
}

async fn patch_metadata(app: &TestApp, id: &str, metadata: serde_json::Value) {
    let response = app.update_stream(id, json!({ "metadata": metadata })).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn subscribing_needs_the_id_of_an_existing_stream() {
    let app = spawn_app().await;
    let mut client = app.grpc().await;

    let empty = client
        .subscribe(SubscribeRequest::default())
        .await
        .unwrap_err();
    let unknown = client
        .subscribe(SubscribeRequest {
            stream_id: uuid::Uuid::new_v4().to_string(),
            ..SubscribeRequest::default()
        })
        .await
        .unwrap_err();

    assert_eq!(empty.code(), Code::InvalidArgument);
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn every_change_arrives_in_seq_order_and_the_stream_ends_after_stream_stopped() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let mut client = app.grpc().await;
    let mut events = subscribe(&mut client, &id, Some(0)).await;

    app.joined(&id, json!({"participantName": "alice", "role": "host"}))
        .await;
    let left = app.leave(&id, json!({"participantName": "alice"})).await;
    assert_eq!(left.status(), StatusCode::OK);
    patch_metadata(&app, &id, json!({"title": "live"})).await;
    assert_eq!(app.stop_stream(&id).await.status(), StatusCode::OK);

    let mut received = Vec::new();
    while let Some(event) = next(&mut events).await.unwrap() {
        received.push(event);
    }
    let types: Vec<StreamEventType> = received.iter().map(|e| e.event_type()).collect();
    assert_eq!(
        types,
        [
            StreamEventType::StreamCreated,
            StreamEventType::ParticipantJoined,
            StreamEventType::ParticipantLeft,
            StreamEventType::StreamUpdated,
            StreamEventType::StreamUpdated,
            StreamEventType::StreamStopped,
        ]
    );
    let seqs: Vec<u64> = received.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=6).collect::<Vec<_>>());
    assert!(received
        .iter()
        .all(|e| e.stream_id == id && !e.event_id.is_empty() && !e.instance_id.is_empty()));
    let Some(EventData::ParticipantJoined(joined)) = &received[1].event_data else {
        panic!("{:?}", received[1]);
    };
    let alice = joined.participant.as_ref().unwrap();
    assert_eq!(
        (alice.identity.as_str(), alice.role()),
        ("alice", ParticipantRole::Host)
    );
    assert_eq!(joined.audience.map(|a| (a.active, a.hosts)), Some((1, 1)));
}

#[tokio::test]
async fn resuming_replays_what_was_missed_without_gap_or_duplicate() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let mut client = app.grpc().await;
    let mut events = subscribe(&mut client, &id, None).await;
    patch_metadata(&app, &id, json!({"n": 1})).await;
    let last_seen = event(&mut events).await.seq;
    drop(events);

    for n in 2..=4 {
        patch_metadata(&app, &id, json!({ "n": n })).await;
    }
    let mut events = subscribe(&mut client, &id, Some(last_seen)).await;
    patch_metadata(&app, &id, json!({"n": 5})).await;

    let mut seqs = Vec::new();
    for _ in 0..4 {
        seqs.push(event(&mut events).await.seq);
    }
    assert_eq!((last_seen, seqs), (2, vec![3, 4, 5, 6]));
}

#[tokio::test]
async fn a_position_the_log_no_longer_holds_is_failed_precondition_resync_required() {
    let mut settings = Settings::for_tests();
    settings.store.max_events_per_stream = 3;
    let app = spawn_app_with(settings).await;
    let id = app.new_stream_id().await;
    for n in 0..5 {
        patch_metadata(&app, &id, json!({ "n": n })).await;
    }
    let mut client = app.grpc().await;

    let mut events = subscribe(&mut client, &id, Some(0)).await;
    let trimmed = next(&mut events).await.unwrap_err();
    let ahead = client
        .subscribe(SubscribeRequest {
            stream_id: id.clone(),
            after_seq: Some(99),
            ..SubscribeRequest::default()
        })
        .await
        .unwrap_err();

    for status in [trimmed, ahead] {
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert!(
            status.message().starts_with("resync_required"),
            "{status:?}"
        );
    }
}

#[tokio::test]
async fn a_stalled_subscriber_is_cut_off_without_delaying_a_healthy_one_and_can_resume() {
    let mut settings = Settings::for_tests();
    settings.realtime.queue_capacity = 4;
    let app = spawn_app_with(settings).await;
    let id = app.new_stream_id().await;
    let mut healthy_client = app.grpc().await;
    let mut healthy = subscribe(&mut healthy_client, &id, None).await;
    // HTTP/2 flow control stops the server after a few events when the client does not read.
    let small_window = tonic::transport::Endpoint::from_shared(format!("http://{}", app.grpc_addr))
        .unwrap()
        .initial_stream_window_size(Some(16 * 1024))
        .initial_connection_window_size(Some(16 * 1024))
        .connect()
        .await
        .unwrap();
    let mut stalled_client = GrpcClient::new(small_window);
    let mut stalled = subscribe(&mut stalled_client, &id, None).await;

    let padding = "x".repeat(8 * 1024);
    let changes = 40u64;
    for n in 0..changes {
        patch_metadata(&app, &id, json!({ "n": n, "padding": padding })).await;
        let started = std::time::Instant::now();
        assert_eq!(event(&mut healthy).await.seq, n + 2);
        assert!(started.elapsed() < Duration::from_secs(1), "not delayed");
    }

    let mut expected = 2;
    let status = loop {
        match next(&mut stalled).await {
            Ok(Some(event)) => {
                assert_eq!(event.seq, expected, "no gap before the cut");
                expected += 1;
            }
            Ok(None) => panic!("the stream ended without a status"),
            Err(status) => break status,
        }
    };
    let last_received = expected - 1;
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(
        status.message(),
        format!("slow consumer; resume from seq {last_received}")
    );

    let mut resumed = subscribe(&mut healthy_client, &id, Some(last_received)).await;
    for expected in last_received + 1..=changes + 1 {
        assert_eq!(event(&mut resumed).await.seq, expected);
    }
}

#[tokio::test]
async fn reflection_lists_the_service_without_the_proto_file() {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;

    let app = spawn_app().await;
    let mut reflection = ServerReflectionClient::new(app.grpc_channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };

    let mut answers = reflection
        .server_reflection_info(tokio_stream_once(request))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().unwrap();

    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("expected a service list, got {answer:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"livestream.orchestrator.v1.StreamService".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );
}

fn tokio_stream_once<T: Send + 'static>(item: T) -> impl futures_util::Stream<Item = T> + Send {
    futures_util::stream::iter([item])
}

#[tokio::test]
async fn health_reports_serving() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;

    let app = spawn_app().await;
    let mut health = HealthClient::new(app.grpc_channel().await);

    for service in ["", "livestream.orchestrator.v1.StreamService"] {
        let answer = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.status(), ServingStatus::Serving, "{service:?}");
    }
}

#[tokio::test]
async fn a_position_is_only_valid_in_the_epoch_it_came_from() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let mut client = app.grpc().await;
    let state = client
        .get_stream_state(GetStreamStateRequest {
            stream_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();

    let same_epoch = client
        .subscribe(SubscribeRequest {
            stream_id: id.clone(),
            after_seq: Some(state.seq),
            epoch: state.epoch.clone(),
            ..SubscribeRequest::default()
        })
        .await
        .unwrap();
    let other_epoch = client
        .subscribe(SubscribeRequest {
            stream_id: id.clone(),
            after_seq: Some(state.seq),
            epoch: "another-store".into(),
            ..SubscribeRequest::default()
        })
        .await
        .unwrap_err();

    let header = same_epoch
        .metadata()
        .get("x-epoch")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(header, state.epoch);
    assert_eq!(other_epoch.code(), Code::FailedPrecondition);
    assert!(other_epoch.message().starts_with("resync_required"));
}

#[tokio::test]
async fn a_subscriber_on_one_instance_sees_changes_made_on_another() {
    let server = redis_harness::shared_or_owned();
    let prefix = redis_harness::unique_prefix();
    let instance = || {
        let mut settings = Settings::for_tests();
        settings.redis.url = server.url().to_owned();
        settings.redis.key_prefix = prefix.clone();
        settings
    };
    let a = spawn_app_with(instance()).await;
    let b = spawn_app_with(instance()).await;
    let id = a.new_stream_id().await;
    let mut client = b.grpc().await;
    let mut events = subscribe(&mut client, &id, None).await;

    patch_metadata(&a, &id, json!({"from": "a"})).await;
    assert_eq!(a.stop_stream(&id).await.status(), StatusCode::OK);

    let mut seqs = Vec::new();
    while let Some(event) = next(&mut events).await.unwrap() {
        seqs.push(event.seq);
    }
    assert_eq!(seqs, [2, 3, 4], "every change made on a, then the end");
}

/// Subscribes to `stream_id` with `audience_interval_ms: 50`, from `after_seq` or from now.
async fn subscribe_coalescing(
    client: &mut GrpcClient,
    stream_id: &str,
    after_seq: Option<u64>,
) -> Streaming<proto::StreamEvent> {
    client
        .subscribe(SubscribeRequest {
            stream_id: stream_id.to_owned(),
            after_seq,
            audience_interval_ms: Some(50),
            ..SubscribeRequest::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// Audience updates up to the one for `last_seq`, each for a later seq than the one before, on
/// a stream where only viewers joined since its creation (seq 1): the update for seq S counts
/// S - 1 viewers.
async fn audience_updates_until(
    events: &mut Streaming<proto::StreamEvent>,
    stream_id: &str,
    last_seq: u64,
) -> Vec<proto::StreamEvent> {
    let mut updates: Vec<proto::StreamEvent> = Vec::new();
    loop {
        let update = event(events).await;
        assert_eq!(
            update.event_type(),
            StreamEventType::AudienceUpdated,
            "{update:?}"
        );
        assert_eq!(update.stream_id, stream_id);
        assert!(
            update.event_id.is_empty(),
            "not an event of the log: {update:?}"
        );
        let viewers = update.seq - 1;
        let expected = proto::Audience {
            active: viewers,
            hosts: 0,
            viewers,
            total_joined: viewers,
            connected: 0,
        };
        let Some(EventData::AudienceUpdated(data)) = &update.event_data else {
            panic!("{update:?}");
        };
        assert_eq!(data.audience, Some(expected), "{update:?}");
        let previous = updates.last().map_or(0, |update| update.seq);
        assert!(
            update.seq > previous && update.seq <= last_seq,
            "{update:?}"
        );
        let done = update.seq == last_seq;
        updates.push(update);
        if done {
            return updates;
        }
    }
}

async fn join_viewer(app: &TestApp, id: &str, n: u64) {
    app.joined(id, json!({ "participantName": format!("viewer-{n}") }))
        .await;
}

#[tokio::test]
async fn a_dashboard_gets_viewers_folded_into_audience_updates_and_hosts_one_by_one() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let mut client = app.grpc().await;
    let mut dashboard = subscribe_coalescing(&mut client, &id, None).await;
    let mut everything = subscribe(&mut client, &id, None).await;

    for n in 2..=6 {
        join_viewer(&app, &id, n).await;
    }
    let updates = audience_updates_until(&mut dashboard, &id, 6).await;
    app.joined(&id, json!({"participantName": "host", "role": "host"}))
        .await;

    assert_eq!(updates.last().map(|update| update.seq), Some(6));
    let host = event(&mut dashboard).await;
    assert_eq!(host.event_type(), StreamEventType::ParticipantJoined);
    assert_eq!(host.seq, 7, "right after the update for 6");
    let Some(EventData::ParticipantJoined(joined)) = &host.event_data else {
        panic!("{host:?}");
    };
    assert_eq!(
        joined.participant.as_ref().map(proto::Participant::role),
        Some(ParticipantRole::Host)
    );
    for expected in 2..=7 {
        assert_eq!(event(&mut everything).await.seq, expected, "one by one");
    }
}

#[tokio::test]
async fn a_dashboard_resumes_from_an_audience_updates_seq_without_gap_or_duplicate() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let mut client = app.grpc().await;
    let mut dashboard = subscribe_coalescing(&mut client, &id, None).await;
    for n in 2..=4 {
        join_viewer(&app, &id, n).await;
    }
    audience_updates_until(&mut dashboard, &id, 4).await;
    drop(dashboard);

    // Missed while away: two more viewers, then a host.
    for n in 5..=6 {
        join_viewer(&app, &id, n).await;
    }
    let mut replayed = subscribe_coalescing(&mut client, &id, Some(4)).await;
    let updates = audience_updates_until(&mut replayed, &id, 6).await;
    app.joined(&id, json!({"participantName": "host", "role": "host"}))
        .await;

    assert_eq!(
        updates.len(),
        1,
        "the replay folds into one update: {updates:?}"
    );
    let mut resumed = subscribe_coalescing(&mut client, &id, Some(6)).await;
    for events in [&mut replayed, &mut resumed] {
        let next = event(events).await;
        assert_eq!(
            (next.event_type(), next.seq),
            (StreamEventType::ParticipantJoined, 7)
        );
    }
}

#[tokio::test]
async fn an_audience_interval_outside_50_ms_to_a_minute_is_invalid_argument() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let mut client = app.grpc().await;

    for millis in [0, 49, 60_001] {
        let refused = client
            .subscribe(SubscribeRequest {
                stream_id: id.clone(),
                audience_interval_ms: Some(millis),
                ..SubscribeRequest::default()
            })
            .await
            .unwrap_err();

        assert_eq!(refused.code(), Code::InvalidArgument, "{millis}");
        assert!(
            refused.message().contains("audience_interval_ms"),
            "{refused:?}"
        );
    }
}
