//! WebSocket subscriptions (`ws://host:PORT/` and `/ws`): every change of a stream arrives once,
//! in seq order, live or replayed after a reconnect; a dashboard may have viewers' joins and
//! leaves folded into audience updates; bad input is answered, not fatal; slow or silent clients
//! are dropped without slowing anyone else.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use orchestrator::Settings;
use orchestrator_tests::{spawn_app, spawn_app_with, TestApp, WsClient};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(5);

async fn send(ws: &mut WsClient, message: Value) {
    ws.send(Message::text(message.to_string())).await.unwrap();
}

/// The next frame that is not a ping or pong.
async fn next_frame(ws: &mut WsClient) -> Message {
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a frame within 5 s")
            .expect("the connection is open")
            .expect("a valid frame");
        if !matches!(frame, Message::Ping(_) | Message::Pong(_)) {
            return frame;
        }
    }
}

async fn recv(ws: &mut WsClient) -> Value {
    let frame = next_frame(ws).await;
    let Message::Text(text) = frame else {
        panic!("expected a JSON text frame, got {frame:?}");
    };
    serde_json::from_str(&text).unwrap()
}

async fn recv_type(ws: &mut WsClient, kind: &str) -> Value {
    let message = recv(ws).await;
    assert_eq!(message["type"], kind, "in {message}");
    message
}

async fn close_frame(ws: &mut WsClient) -> CloseFrame {
    loop {
        let frame = next_frame(ws).await;
        if let Message::Close(Some(close)) = frame {
            return close;
        }
        assert!(
            matches!(frame, Message::Text(_)),
            "expected a close frame, got {frame:?}"
        );
    }
}

/// A connection on `path`, past its `connected` greeting.
async fn connect(app: &TestApp, path: &str) -> WsClient {
    let mut ws = app.ws(path).await;
    recv_type(&mut ws, "connected").await;
    ws
}

async fn subscribe(ws: &mut WsClient, stream_id: &str, after_seq: Option<u64>) -> Value {
    let mut message = json!({"type": "subscribe", "streamId": stream_id});
    if let Some(after_seq) = after_seq {
        message["afterSeq"] = after_seq.into();
    }
    send(ws, message).await;
    let subscribed = recv_type(ws, "subscribed").await;
    assert_eq!(subscribed["streamId"], stream_id);
    subscribed
}

/// The next `event` message's event.
async fn event(ws: &mut WsClient) -> Value {
    let message = recv_type(ws, "event").await;
    assert_eq!(message["seq"], message["event"]["seq"]);
    assert_eq!(message["streamId"], message["event"]["streamId"]);
    message["event"].clone()
}

fn seq(event: &Value) -> u64 {
    event["seq"].as_u64().unwrap()
}

async fn patch_metadata(app: &TestApp, id: &str, metadata: Value) {
    let response = app.update_stream(id, json!({ "metadata": metadata })).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn every_change_of_a_stream_arrives_once_in_seq_order() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let mut ws = connect(&app, "/").await;
    subscribe(&mut ws, &id, Some(0)).await;

    app.joined(&id, json!({"participantName": "alice", "role": "host"}))
        .await;
    let left = app.leave(&id, json!({"participantName": "alice"})).await;
    assert_eq!(left.status(), StatusCode::OK);
    patch_metadata(&app, &id, json!({"title": "live"})).await;
    assert_eq!(app.stop_stream(&id).await.status(), StatusCode::OK);

    let mut events = Vec::new();
    loop {
        let event = event(&mut ws).await;
        let stopped = event["type"] == "stream_stopped";
        events.push(event);
        if stopped {
            break;
        }
    }
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "stream_created",
            "participant_joined",
            "participant_left",
            "stream_updated",
            "stream_updated",
            "stream_stopped"
        ]
    );
    let seqs: Vec<u64> = events.iter().map(seq).collect();
    assert_eq!(seqs, (1..=6).collect::<Vec<_>>());
    for event in &events {
        assert_eq!(event["streamId"], id.as_str());
        for field in ["id", "timestamp", "data", "instanceId"] {
            assert!(!event[field].is_null(), "{field} in {event}");
        }
    }
}

#[tokio::test]
async fn without_a_position_a_subscription_starts_with_the_next_change() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let mut ws = connect(&app, "/ws").await;

    let subscribed = subscribe(&mut ws, &id, None).await;
    assert_eq!(subscribed["seq"], 1);
    patch_metadata(&app, &id, json!({"n": 1})).await;

    let event = event(&mut ws).await;
    assert_eq!(
        (event["type"].as_str(), seq(&event)),
        (Some("stream_updated"), 2)
    );
}

#[tokio::test]
async fn resuming_after_a_disconnect_replays_what_was_missed_without_gap_or_duplicate() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let mut ws = connect(&app, "/ws").await;
    subscribe(&mut ws, &id, None).await;
    patch_metadata(&app, &id, json!({"n": 1})).await;
    let last_seen = seq(&event(&mut ws).await);
    ws.close(None).await.unwrap();

    for n in 2..=4 {
        patch_metadata(&app, &id, json!({ "n": n })).await;
    }
    let mut ws = connect(&app, "/ws").await;
    subscribe(&mut ws, &id, Some(last_seen)).await;
    patch_metadata(&app, &id, json!({"n": 5})).await;

    let mut seqs = Vec::new();
    for _ in 0..4 {
        seqs.push(seq(&event(&mut ws).await));
    }
    assert_eq!(seqs, [3, 4, 5, 6]);
    assert_eq!(last_seen, 2);
}

#[tokio::test]
async fn a_replay_of_a_hundred_queued_events_loses_none_at_the_writers_batch_bound() {
    // The writer sends up to 16 queued frames per write (`socket::MAX_BATCH`): a replay of
    // 101 events crosses that bound six times.
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    for n in 0..100 {
        patch_metadata(&app, &id, json!({ "n": n })).await;
    }
    let mut ws = connect(&app, "/ws").await;
    subscribe(&mut ws, &id, Some(0)).await;

    let mut seqs = Vec::new();
    for _ in 0..101 {
        seqs.push(seq(&event(&mut ws).await));
    }

    assert_eq!(seqs, (1..=101).collect::<Vec<u64>>());
}

#[tokio::test]
async fn one_connection_follows_many_streams_until_it_unsubscribes() {
    let app = spawn_app().await;
    let (a, b) = (app.new_stream_id().await, app.new_stream_id().await);
    let mut ws = connect(&app, "/ws").await;
    subscribe(&mut ws, &a, None).await;
    subscribe(&mut ws, &b, None).await;

    patch_metadata(&app, &a, json!({"n": 1})).await;
    assert_eq!(event(&mut ws).await["streamId"], a.as_str());
    patch_metadata(&app, &b, json!({"n": 1})).await;
    assert_eq!(event(&mut ws).await["streamId"], b.as_str());

    send(&mut ws, json!({"type": "unsubscribe", "streamId": a})).await;
    assert_eq!(
        recv_type(&mut ws, "unsubscribed").await["streamId"],
        a.as_str()
    );
    patch_metadata(&app, &a, json!({"n": 2})).await;
    patch_metadata(&app, &b, json!({"n": 2})).await;
    let next = event(&mut ws).await;
    assert_eq!(
        (next["streamId"].as_str(), seq(&next)),
        (Some(b.as_str()), 3)
    );
}

#[tokio::test]
async fn an_unknown_stream_is_an_error_and_the_connection_stays_usable() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let mut ws = connect(&app, "/ws").await;

    let unknown = uuid::Uuid::new_v4().to_string();
    send(&mut ws, json!({"type": "subscribe", "streamId": unknown})).await;
    let error = recv_type(&mut ws, "error").await;
    assert_eq!(error["code"], "stream_not_found");
    assert_eq!(error["streamId"], unknown.as_str());
    send(
        &mut ws,
        json!({"type": "subscribe", "streamId": "not-a-uuid"}),
    )
    .await;
    assert_eq!(
        recv_type(&mut ws, "error").await["code"],
        "stream_not_found"
    );

    send(&mut ws, json!({"type": "ping"})).await;
    recv_type(&mut ws, "pong").await;
    subscribe(&mut ws, &id, None).await;
}

#[tokio::test]
async fn malformed_messages_are_errors_and_the_connection_stays_usable() {
    let app = spawn_app().await;
    let mut ws = connect(&app, "/ws").await;

    for bad in [
        "not json",
        r#"{"type":"dance"}"#,
        r#"{"type":"subscribe"}"#,
        r#"{"type":"subscribe","streamId":"x","afterSeq":-1}"#,
        r#"{"type":"subscribe","streamId":"x","audienceIntervalMs":49}"#,
        r#"{"type":"subscribe","streamId":"x","audienceIntervalMs":60001}"#,
        "[]",
    ] {
        ws.send(Message::text(bad)).await.unwrap();
        let error = recv_type(&mut ws, "error").await;
        assert_eq!(error["code"], "invalid_message", "for {bad}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    send(&mut ws, json!({"type": "ping"})).await;
    recv_type(&mut ws, "pong").await;
}

#[tokio::test]
async fn plain_http_on_the_websocket_path_is_a_json_426() {
    let app = spawn_app().await;

    let response = app
        .client
        .get(format!("{}/ws", app.base))
        .send()
        .await
        .unwrap();

    orchestrator_tests::assert_error(
        response,
        StatusCode::UPGRADE_REQUIRED,
        "websocket_upgrade_required",
    )
    .await;
}

#[tokio::test]
async fn a_binary_frame_closes_the_connection_with_a_reason() {
    let app = spawn_app().await;
    let mut ws = connect(&app, "/ws").await;

    ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();

    let close = close_frame(&mut ws).await;
    assert_eq!(close.code, CloseCode::Unsupported);
    assert!(close.reason.contains("binary"), "reason: {}", close.reason);
}

#[tokio::test]
async fn an_oversized_message_closes_the_connection_with_a_reason() {
    let mut settings = Settings::for_tests();
    settings.realtime.max_message_bytes = 1024;
    let app = spawn_app_with(settings).await;
    let mut ws = connect(&app, "/ws").await;

    let huge = json!({"type": "ping", "padding": "x".repeat(4096)});
    send(&mut ws, huge).await;

    let close = close_frame(&mut ws).await;
    assert_eq!(close.code, CloseCode::Size);
    assert!(close.reason.contains("1024"), "reason: {}", close.reason);
}

#[tokio::test]
async fn a_client_that_stops_answering_pings_is_disconnected() {
    let mut settings = Settings::for_tests();
    settings.realtime.heartbeat_interval_ms = 100;
    settings.realtime.client_timeout_ms = 300;
    let app = spawn_app_with(settings).await;
    let mut ws = connect(&app, "/ws").await;

    // Not reading means not answering the server's pings.
    tokio::time::sleep(Duration::from_millis(800)).await;

    let close = close_frame(&mut ws).await;
    assert_eq!(close.code, CloseCode::Policy);
    assert!(
        close.reason.contains("heartbeat"),
        "reason: {}",
        close.reason
    );
}

#[tokio::test]
async fn a_position_the_log_no_longer_holds_requires_a_resync() {
    let mut settings = Settings::for_tests();
    settings.store.max_events_per_stream = 3;
    let app = spawn_app_with(settings).await;
    let id = app.new_stream_id().await;
    for n in 0..5 {
        patch_metadata(&app, &id, json!({ "n": n })).await;
    }
    let mut ws = connect(&app, "/ws").await;

    send(
        &mut ws,
        json!({"type": "subscribe", "streamId": id, "afterSeq": 0}),
    )
    .await;
    recv_type(&mut ws, "subscribed").await;
    let resync = recv_type(&mut ws, "resync_required").await;
    assert_eq!(resync["streamId"], id.as_str());
    assert_eq!(resync["afterSeq"], 0);

    // A position ahead of the stream, or from another epoch, means nothing here either.
    send(
        &mut ws,
        json!({"type": "subscribe", "streamId": id, "afterSeq": 99}),
    )
    .await;
    assert_eq!(
        recv_type(&mut ws, "resync_required").await["streamId"],
        id.as_str()
    );
    let stale_epoch = json!({"type": "subscribe", "streamId": id, "afterSeq": 5, "epoch": "x"});
    send(&mut ws, stale_epoch).await;
    recv_type(&mut ws, "resync_required").await;

    // Reloading the state and following from its seq works.
    let state = app.state(&id).await;
    subscribe(&mut ws, &id, state["seq"].as_u64()).await;
    patch_metadata(&app, &id, json!({"n": "after"})).await;
    assert_eq!(seq(&event(&mut ws).await), 7);
}

#[tokio::test]
async fn a_stalled_client_is_cut_off_without_delaying_a_healthy_one_and_can_resume() {
    let mut settings = Settings::for_tests();
    settings.realtime.queue_capacity = 4;
    let app = spawn_app_with(settings).await;
    let id = app.new_stream_id().await;
    let mut healthy = connect(&app, "/ws").await;
    subscribe(&mut healthy, &id, None).await;
    let mut stalled = stalled_ws(&app).await;
    subscribe(&mut stalled, &id, None).await;

    // Big events (near the 16 KiB metadata limit) fill the stalled client's socket buffers (the
    // server's send buffer grows to 4 MiB on a default Linux) in a few seconds.
    let padding = "x".repeat(14 * 1024);
    let changes = 480u64;
    for n in 0..changes {
        patch_metadata(&app, &id, json!({ "n": n, "padding": padding })).await;
        let started = std::time::Instant::now();
        let event = event(&mut healthy).await;
        assert_eq!(seq(&event), n + 2, "the healthy client gets every change");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the healthy client is not delayed"
        );
    }

    // The stalled client finally reads: a gapless prefix, then the reason to resume.
    let mut expected = 2;
    let close = loop {
        let frame = next_frame(&mut stalled).await;
        if let Message::Close(Some(close)) = frame {
            break close;
        }
        let Message::Text(text) = frame else {
            panic!("unexpected {frame:?}");
        };
        let message: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(message["seq"], expected, "no gap before the cut");
        expected += 1;
    };
    let last_received = expected - 1;
    assert!(
        last_received < changes + 1,
        "the stalled client was cut off"
    );
    assert_eq!(close.code, CloseCode::Policy);
    assert_eq!(
        close.reason.as_str(),
        format!("slow consumer; resume from seq {last_received}")
    );

    let mut resumed = connect(&app, "/ws").await;
    subscribe(&mut resumed, &id, Some(last_received)).await;
    for expected in last_received + 1..=changes + 1 {
        assert_eq!(seq(&event(&mut resumed).await), expected);
    }
}

/// A WebSocket on a socket with a tiny receive buffer, past its `connected` greeting.
async fn stalled_ws(app: &TestApp) -> WsClient {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(app.addr).await.unwrap();
    let url = format!("ws://{}/ws", app.addr);
    let (mut ws, _) = tokio_tungstenite::client_async(
        url.as_str(),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
    )
    .await
    .unwrap();
    recv_type(&mut ws, "connected").await;
    ws
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
    let mut ws = connect(&b, "/ws").await;
    subscribe(&mut ws, &id, Some(0)).await;

    patch_metadata(&a, &id, json!({"from": "a"})).await;
    assert_eq!(a.stop_stream(&id).await.status(), StatusCode::OK);

    let mut types = Vec::new();
    for expected in 1..=4 {
        let event = event(&mut ws).await;
        assert_eq!(seq(&event), expected);
        types.push(event["type"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        types,
        [
            "stream_created",
            "stream_updated",
            "stream_updated",
            "stream_stopped"
        ]
    );
}

/// Subscribes to `stream_id` with `audienceIntervalMs: 50`, from `after_seq` or from now.
async fn subscribe_coalescing(ws: &mut WsClient, stream_id: &str, after_seq: Option<u64>) {
    let mut message = json!({"type": "subscribe", "streamId": stream_id, "audienceIntervalMs": 50});
    if let Some(after_seq) = after_seq {
        message["afterSeq"] = after_seq.into();
    }
    send(ws, message).await;
    let subscribed = recv_type(ws, "subscribed").await;
    assert_eq!(subscribed["streamId"], stream_id);
    assert_eq!(subscribed["audienceIntervalMs"], 50);
}

/// `audience` messages up to the one for `last_seq`, each for a later seq than the one before,
/// on a stream where only viewers joined since its creation (seq 1): the update for seq S
/// counts S - 1 viewers.
async fn audience_updates_until(ws: &mut WsClient, stream_id: &str, last_seq: u64) -> Vec<Value> {
    let mut updates: Vec<Value> = Vec::new();
    loop {
        let update = recv_type(ws, "audience").await;
        assert_eq!(update["streamId"], stream_id);
        let viewers = seq(&update) - 1;
        assert_eq!(
            update["audience"],
            json!({"active": viewers, "hosts": 0, "viewers": viewers, "connected": 0, "totalJoined": viewers}),
            "{update}"
        );
        let previous = updates.last().map_or(0, seq);
        assert!(
            seq(&update) > previous && seq(&update) <= last_seq,
            "{update}"
        );
        let done = seq(&update) == last_seq;
        updates.push(update);
        if done {
            return updates;
        }
    }
}

#[tokio::test]
async fn a_dashboard_gets_viewers_folded_into_audience_updates_and_hosts_one_by_one() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let mut dashboard = connect(&app, "/ws").await;
    subscribe_coalescing(&mut dashboard, &id, None).await;
    let mut everything = connect(&app, "/ws").await;
    subscribe(&mut everything, &id, None).await;

    for n in 2..=6 {
        app.joined(&id, json!({ "participantName": format!("viewer-{n}") }))
            .await;
    }
    let updates = audience_updates_until(&mut dashboard, &id, 6).await;
    app.joined(&id, json!({"participantName": "host", "role": "host"}))
        .await;

    assert_eq!(updates.last().map(seq), Some(6));
    let host = event(&mut dashboard).await;
    assert_eq!(host["type"], "participant_joined");
    assert_eq!(host["data"]["participant"]["role"], "host");
    assert_eq!(seq(&host), 7, "right after the update for 6");
    for expected in 2..=7 {
        assert_eq!(seq(&event(&mut everything).await), expected, "one by one");
    }
}

#[tokio::test]
async fn a_dashboard_resumes_from_an_audience_updates_seq_without_gap_or_duplicate() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let mut dashboard = connect(&app, "/ws").await;
    subscribe_coalescing(&mut dashboard, &id, None).await;
    for n in 2..=4 {
        app.joined(&id, json!({ "participantName": format!("viewer-{n}") }))
            .await;
    }
    audience_updates_until(&mut dashboard, &id, 4).await;
    dashboard.close(None).await.unwrap();

    // Missed while away: two more viewers, then a host.
    for n in 5..=6 {
        app.joined(&id, json!({ "participantName": format!("viewer-{n}") }))
            .await;
    }
    let mut replayed = connect(&app, "/ws").await;
    subscribe_coalescing(&mut replayed, &id, Some(4)).await;
    let updates = audience_updates_until(&mut replayed, &id, 6).await;
    app.joined(&id, json!({"participantName": "host", "role": "host"}))
        .await;

    assert_eq!(
        updates.len(),
        1,
        "the replay folds into one update: {updates:?}"
    );
    let mut resumed = connect(&app, "/ws").await;
    subscribe_coalescing(&mut resumed, &id, Some(6)).await;
    for ws in [&mut replayed, &mut resumed] {
        let next = event(ws).await;
        assert_eq!(
            (next["type"].as_str(), seq(&next)),
            (Some("participant_joined"), 7)
        );
    }
}
