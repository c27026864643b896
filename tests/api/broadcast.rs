//! Broadcast in and out through the embedded LiveKit emulator: an encoder publishing on the
//! stream's ingest makes it live, its outputs start once each and become active, events follow
//! every change in seq order on WebSocket and gRPC; stopping completes them and removes the
//! ingest; a failing egress is retried then reported failed; a rotated key stops working.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use orchestrator::Settings;
use orchestrator_grpc::proto::{
    stream_event::EventData, AddOutputRequest, CreateIngestRequest, IngestRequest, IngestType,
    ListOutputsRequest, OutputObserved, OutputSpec, OutputType, StreamEventType, SubscribeRequest,
};
use orchestrator_tests::{assert_error, spawn_app_with, TestApp, WsClient};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const WITHIN: Duration = Duration::from_secs(10);
const RTMP_TARGET: &str = "rtmps://live.example.com/app/sk-restream-secret";

/// Where players read HLS in these tests (a CDN in front of the bucket).
const PLAYBACK: &str = "https://cdn.example.com/live";

/// An app whose retries back off 20 ms instead of a second, with a playback base URL.
async fn app() -> TestApp {
    let mut settings = Settings::for_tests();
    settings.broadcast.retry_backoff_ms = 20;
    settings.broadcast.playback_base_url = PLAYBACK.into();
    spawn_app_with(settings).await
}

async fn send(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
    let request = app.request(method, path);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    request.send().await.unwrap()
}

async fn json_of(response: reqwest::Response, status: StatusCode) -> Value {
    let actual = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(actual, status, "{body}");
    body
}

/// A stream declaring an auto-start HLS output and an RTMP restream, with an RTMP ingest.
async fn broadcast_stream(app: &TestApp) -> (String, Value) {
    let created = app
        .created_stream(json!({
            "outputs": [
                {"type": "hls", "autoStart": true},
                {"id": "restream", "type": "rtmp", "targets": [RTMP_TARGET], "autoStart": true},
            ]
        }))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let ingest = json_of(
        send(
            app,
            Method::POST,
            &format!("/streams/{id}/ingest"),
            Some(json!({"type": "rtmp"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    (id, ingest)
}

async fn outputs(app: &TestApp, id: &str) -> Vec<Value> {
    let body = json_of(
        send(app, Method::GET, &format!("/streams/{id}/outputs"), None).await,
        StatusCode::OK,
    )
    .await;
    body.as_array().unwrap().clone()
}

/// Polls the outputs until `done` holds for them (within [`WITHIN`]).
async fn wait_for_outputs(app: &TestApp, id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let current = outputs(app, id).await;
        if done(&current) {
            return current;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "outputs still {current:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn all_observed(outputs: &[Value], observed: &str) -> bool {
    outputs.len() == 2 && outputs.iter().all(|o| o["observed"] == observed)
}

async fn subscribed_ws(app: &TestApp, id: &str) -> WsClient {
    let mut ws = app.ws("/ws").await;
    let request = json!({"type": "subscribe", "streamId": id, "afterSeq": 0});
    ws.send(Message::text(request.to_string())).await.unwrap();
    ws
}

/// The events a WebSocket receives until `last` (a predicate on an event) holds.
async fn ws_events_until(ws: &mut WsClient, last: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let frame = tokio::time::timeout(WITHIN, ws.next())
            .await
            .expect("a frame")
            .unwrap()
            .unwrap();
        let Message::Text(text) = frame else { continue };
        let message: Value = serde_json::from_str(&text).unwrap();
        if message["type"] != "event" {
            continue;
        }
        let event = message["event"].clone();
        let done = last(&event);
        events.push(event);
        if done {
            return events;
        }
    }
}

fn seqs_in_order(events: &[Value]) {
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "every event once, in seq order");
}

#[tokio::test]
async fn an_encoder_publishing_on_the_ingest_starts_each_output_once_and_stopping_completes_them() {
    let app = app().await;
    let (id, ingest) = broadcast_stream(&app).await;
    let mut ws = subscribed_ws(&app, &id).await;
    let mut grpc = app.grpc().await;
    let mut events = grpc
        .subscribe(SubscribeRequest {
            stream_id: id.clone(),
            after_seq: Some(0),
            ..SubscribeRequest::default()
        })
        .await
        .unwrap()
        .into_inner();

    app.emulator()
        .publish_encoder_with_key(ingest["streamKey"].as_str().unwrap())
        .await
        .unwrap();
    let active = wait_for_outputs(&app, &id, |o| all_observed(o, "active")).await;

    let room = app.stream(&id).await["roomName"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.emulator().egress_starts(&room),
        2,
        "one egress per output"
    );
    let hls = active.iter().find(|o| o["type"] == "hls").unwrap();
    assert!(
        hls["playbackUrl"]
            .as_str()
            .is_some_and(|url| url.ends_with(".m3u8")),
        "{hls}"
    );
    assert_eq!(
        json_of(
            send(&app, Method::GET, &format!("/streams/{id}/ingest"), None).await,
            StatusCode::OK
        )
        .await["state"],
        "publishing"
    );

    app.stopped(&id).await;
    let complete = wait_for_outputs(&app, &id, |o| all_observed(o, "complete")).await;
    assert!(complete.iter().all(|o| o["desired"] == "off"));
    assert_error(
        send(&app, Method::GET, &format!("/streams/{id}/ingest"), None).await,
        StatusCode::NOT_FOUND,
        "ingest_not_found",
    )
    .await;
    assert!(
        app.emulator().ingresses().is_empty(),
        "the ingress is gone from LiveKit"
    );

    // Both transports saw every change, in seq order, up to the stream's end.
    let ws_events = ws_events_until(&mut ws, |e| e["type"] == "stream_stopped").await;
    seqs_in_order(&ws_events);
    let kinds: Vec<&str> = ws_events
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for kind in [
        "output_added",
        "ingest_created",
        "ingest_updated",
        "output_updated",
        "ingest_removed",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let mut grpc_seqs = Vec::new();
    let mut output_events = 0;
    while let Some(event) = tokio::time::timeout(WITHIN, events.next()).await.unwrap() {
        let event = event.unwrap();
        grpc_seqs.push(event.seq);
        if matches!(event.event_data, Some(EventData::OutputEvent(_))) {
            output_events += 1;
        }
        if event.event_type() == StreamEventType::StreamStopped {
            break;
        }
    }
    assert_eq!(grpc_seqs, (1..=grpc_seqs.len() as u64).collect::<Vec<_>>());
    assert_eq!(
        grpc_seqs.len(),
        ws_events.len(),
        "the same events on both transports"
    );
    assert!(output_events >= 4, "added and updated, for both outputs");
}

#[tokio::test]
async fn an_egress_that_keeps_failing_is_retried_then_reported_failed() {
    let app = app().await;
    let id = app.new_stream_id().await;
    json_of(
        send(
            &app,
            Method::POST,
            &format!("/streams/{id}/outputs"),
            Some(json!({"type": "recording"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    app.emulator().fail_next_egress_starts(10, "disk full");

    let accepted = send(
        &app,
        Method::POST,
        &format!("/streams/{id}/outputs/recording/start"),
        None,
    )
    .await;
    assert_eq!(
        json_of(accepted, StatusCode::ACCEPTED).await["observed"],
        "starting"
    );
    let failed =
        wait_for_outputs(&app, &id, |o| o.len() == 1 && o[0]["observed"] == "failed").await;

    assert_eq!(failed[0]["attempts"], 4);
    assert!(
        failed[0]["failure"].as_str().unwrap().contains("disk full"),
        "{}",
        failed[0]
    );
    let room = app.stream(&id).await["roomName"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.emulator().egress_starts(&room),
        4,
        "one egress per attempt, no more"
    );
}

#[tokio::test]
async fn an_egress_failing_once_is_retried_and_becomes_active() {
    let app = app().await;
    let id = app.new_stream_id().await;
    json_of(
        send(
            &app,
            Method::POST,
            &format!("/streams/{id}/outputs"),
            Some(json!({"type": "hls"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    app.emulator().refuse_next_egress_starts(1);

    send(
        &app,
        Method::POST,
        &format!("/streams/{id}/outputs/hls/start"),
        None,
    )
    .await;
    let active =
        wait_for_outputs(&app, &id, |o| o.len() == 1 && o[0]["observed"] == "active").await;

    assert_eq!(active[0]["attempts"], 2);
}

#[tokio::test]
async fn a_rotated_stream_key_stops_working_and_the_new_one_works() {
    let app = app().await;
    let (id, first) = broadcast_stream(&app).await;

    let rotated = json_of(
        send(
            &app,
            Method::POST,
            &format!("/streams/{id}/ingest/rotate"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;

    assert_ne!(rotated["streamKey"], first["streamKey"]);
    let old = app
        .emulator()
        .publish_encoder_with_key(first["streamKey"].as_str().unwrap())
        .await;
    assert!(old.is_err(), "the old key is refused");
    let new = app
        .emulator()
        .publish_encoder_with_key(rotated["streamKey"].as_str().unwrap())
        .await;
    assert!(new.is_ok(), "{new:?}");
}

#[tokio::test]
async fn an_operator_can_start_stop_and_remove_an_output_at_any_time() {
    let app = app().await;
    let id = app.new_stream_id().await;
    let path = format!("/streams/{id}/outputs");
    json_of(
        send(
            &app,
            Method::POST,
            &path,
            Some(json!({"id": "archive", "type": "recording"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;

    send(&app, Method::POST, &format!("{path}/archive/start"), None).await;
    wait_for_outputs(&app, &id, |o| o.len() == 1 && o[0]["observed"] == "active").await;
    let stopped = send(&app, Method::POST, &format!("{path}/archive/stop"), None).await;
    assert_eq!(
        json_of(stopped, StatusCode::ACCEPTED).await["desired"],
        "off"
    );
    let complete = wait_for_outputs(&app, &id, |o| {
        o.len() == 1 && o[0]["observed"] == "complete"
    })
    .await;
    assert!(complete[0]["location"].is_string(), "{}", complete[0]);
    let removed = send(&app, Method::DELETE, &format!("{path}/archive"), None).await;

    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    assert!(outputs(&app, &id).await.is_empty());
    assert_error(
        send(&app, Method::GET, &format!("{path}/archive"), None).await,
        StatusCode::NOT_FOUND,
        "output_not_found",
    )
    .await;
}

#[tokio::test]
async fn bad_outputs_and_ingests_are_refused_with_their_field_and_change_nothing() {
    let app = app().await;
    let id = app.new_stream_id().await;
    let seq = app.stream(&id).await["seq"].clone();
    let path = format!("/streams/{id}/outputs");

    for body in [
        json!({"type": "dash"}),
        json!({"type": "rtmp"}),
        json!({"type": "rtmp", "targets": ["http://example.com/x"]}),
        json!({"type": "rtmp", "targets": vec!["rtmp://a/b"; 6]}),
        json!({"type": "hls", "id": "Bad Name"}),
        json!({"type": "hls", "targets": [RTMP_TARGET]}),
    ] {
        assert_error(
            send(&app, Method::POST, &path, Some(body.clone())).await,
            StatusCode::BAD_REQUEST,
            "invalid_field",
        )
        .await;
    }
    assert_error(
        send(
            &app,
            Method::POST,
            &format!("/streams/{id}/ingest"),
            Some(json!({"type": "srt"})),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;

    assert_eq!(app.stream(&id).await["seq"], seq, "nothing recorded");
    assert!(outputs(&app, &id).await.is_empty());
}

#[tokio::test]
async fn a_stream_has_at_most_eight_outputs_with_unique_names() {
    let app = app().await;
    let id = app.new_stream_id().await;
    let path = format!("/streams/{id}/outputs");
    for _ in 0..8 {
        json_of(
            send(&app, Method::POST, &path, Some(json!({"type": "hls"}))).await,
            StatusCode::CREATED,
        )
        .await;
    }

    let ninth = send(&app, Method::POST, &path, Some(json!({"type": "hls"}))).await;
    let names: Vec<String> = outputs(&app, &id)
        .await
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();

    assert_error(ninth, StatusCode::CONFLICT, "too_many_outputs").await;
    assert!(
        names.contains(&"hls".to_owned()) && names.contains(&"hls-8".to_owned()),
        "{names:?}"
    );
}

#[tokio::test]
async fn the_broadcast_rpcs_mirror_rest() {
    let app = app().await;
    let id = app.new_stream_id().await;
    let mut grpc = app.grpc().await;

    let added = grpc
        .add_output(AddOutputRequest {
            stream_id: id.clone(),
            output: Some(OutputSpec {
                id: "youtube".into(),
                r#type: OutputType::Rtmp.into(),
                targets: vec![RTMP_TARGET.into()],
                auto_start: false,
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let ingest = grpc
        .create_ingest(CreateIngestRequest {
            stream_id: id.clone(),
            r#type: IngestType::Whip.into(),
            url: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let listed = grpc
        .list_outputs(ListOutputsRequest {
            stream_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let rest = json_of(
        send(&app, Method::GET, &format!("/streams/{id}/ingest"), None).await,
        StatusCode::OK,
    )
    .await;
    let missing = grpc
        .get_ingest(IngestRequest {
            stream_id: uuid::Uuid::new_v4().to_string(),
        })
        .await;

    assert_eq!(
        added.targets,
        [RTMP_TARGET],
        "whole for a caller that may change the stream"
    );
    assert_eq!(added.observed(), OutputObserved::Idle);
    assert_eq!(listed.outputs, vec![added]);
    assert_eq!(ingest.stream_key, rest["streamKey"].as_str().unwrap());
    assert_eq!(missing.unwrap_err().code(), tonic::Code::NotFound);
}
