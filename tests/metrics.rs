//! `GET /metrics`: every family the orchestrator exports (the catalogue in
//! `orchestrator::telemetry::metrics::FAMILIES`) moves when its area is exercised, on an
//! instance on Redis: REST, WebSocket and gRPC traffic, LiveKit calls and webhooks, a slow
//! consumer, a WebSocket client breaking RFC 6455, a reconciler repair, a Redis stall and a
//! shutdown. Labels stay bounded: routes are patterns, never raw paths or ids. On Redis, the
//! store's families have their series from the first scrape, like every family with a closed
//! label set.
//!
//! A binary of its own: the recorder is the process's, so no other test's app may count (or
//! set gauges) while this one reads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use orchestrator::telemetry::metrics::{Family, Kind, Series, FAMILIES};
use orchestrator::Settings;
use orchestrator_grpc::proto::{CreateStreamRequest, SubscribeRequest};
use orchestrator_tests::{series_value, spawn_app_with, GrpcClient, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(15);

/// A request actix-http cannot parse (answered 400 before any route).
async fn malformed_request(app: &TestApp) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    socket
        .write_all(b"BREW /coffee HTCPCP/1.0\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 12];
    let _ = tokio::time::timeout(WAIT, socket.read(&mut answer)).await;
    assert!(answer.starts_with(b"HTTP/1.1 400"), "{answer:?}");
}

/// A WebSocket client sends a fragmented ping (RFC 6455 forbids it): closed with 1002.
async fn protocol_error(app: &TestApp) {
    use orchestrator_tests::raw::{drain_until_closed, frame, ws_handshake};
    use tokio::io::AsyncWriteExt;
    let mut socket = ws_handshake(app.addr, "/ws").await.expect("a WebSocket");
    socket
        .write_all(&frame(0x9, false, true, b"fragment", None))
        .await
        .unwrap();
    assert!(drain_until_closed(&mut socket, WAIT).await);
}

/// One rendering of the process's metrics.
struct Scrape(String);

impl Scrape {
    /// What the process's recorder holds now (also when no app serves `/metrics`).
    fn now() -> Self {
        Self(orchestrator::telemetry::metrics::handle().unwrap().render())
    }

    /// The sum of a family's series (a histogram's observation count), 0 when absent.
    fn total(&self, family: &str, kind: Kind) -> f64 {
        let sample = match kind {
            Kind::Histogram => format!("{family}_count"),
            Kind::Counter | Kind::Gauge => family.to_owned(),
        };
        self.0
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.rsplit_once(' '))
            .filter(|(series, _)| *series == sample || series.starts_with(&format!("{sample}{{")))
            .filter_map(|(_, value)| value.parse::<f64>().ok())
            .sum()
    }

    /// Whether a sample of `family` is there (not only its `# HELP` and `# TYPE`).
    fn has_series(&self, family: &str) -> bool {
        self.0
            .lines()
            .filter(|line| !line.starts_with('#'))
            .any(|line| line.starts_with(family))
    }

    fn value(&self, series: &str) -> f64 {
        series_value(&self.0, series)
    }
}

/// An instance on `redis_url` whose reconciler runs every 50 ms, whose subscribers overflow
/// after 4 queued events and whose Redis commands time out after a second.
async fn instrumented_app(redis_url: &str) -> TestApp {
    let mut settings = Settings::for_tests();
    settings.broadcast.retry_backoff_ms = 10;
    settings.redis.url = redis_url.to_owned();
    settings.redis.key_prefix = redis_harness::unique_prefix();
    settings.reconciler.interval_ms = 50;
    settings.reconciler.livekit_calls_per_sec = 1000;
    settings.realtime.queue_capacity = 4;
    settings.redis.command_timeout_ms = 1000;
    spawn_app_with(settings).await
}

async fn recv_json(ws: &mut orchestrator_tests::WsClient) -> Value {
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("valid");
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// A stream's life with a WebSocket and a gRPC subscriber: created over gRPC, joined over
/// REST (LiveKit's webhook follows), updated, stopped. Returns a scrape taken while both
/// subscribers were connected.
async fn stream_life(app: &TestApp) -> Scrape {
    let mut grpc = app.grpc().await;
    let created = grpc
        .create_stream(CreateStreamRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut ws = app.ws("/ws").await;
    let subscribe = json!({"type": "subscribe", "streamId": created.id, "afterSeq": 0});
    ws.send(Message::text(subscribe.to_string())).await.unwrap();
    let mut events = grpc
        .subscribe(SubscribeRequest {
            stream_id: created.id.clone(),
            after_seq: Some(0),
            ..SubscribeRequest::default()
        })
        .await
        .unwrap()
        .into_inner();

    let joined = app
        .joined(&created.id, json!({"participantName": "ada"}))
        .await;
    app.emulator()
        .connect(joined["token"].as_str().unwrap())
        .await
        .unwrap();
    let patched = app
        .update_stream(&created.id, json!({"metadata": {"act": 2}}))
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    while recv_json(&mut ws).await["type"] != "event" {}
    tokio::time::timeout(WAIT, events.message())
        .await
        .unwrap()
        .unwrap()
        .expect("an event");
    let connected = Scrape::now();

    drop(ws);
    drop(events);
    assert_eq!(app.stop_stream(&created.id).await.status(), StatusCode::OK);
    connected
}

/// An applied, a redelivered, a foreign, an own room's and an unsigned webhook. (The join in
/// `stream_life` is not relied on for `applied`: the reconciler, every 50 ms here, may record
/// that session before its webhook arrives, which then changes nothing.)
async fn webhooks(app: &TestApp) {
    let id = app.new_stream_id().await;
    let room = app.stream(&id).await["roomName"].clone();
    let joined = json!({"event": "participant_joined", "id": "EV_metrics_0",
                        "room": {"name": room}, "participant": {"sid": "PA_w", "identity": "wanda"}})
    .to_string();
    let applied = app
        .post_webhook(&joined, livekit_emulator::DEV_API_SECRET)
        .await;
    assert_eq!(applied.status(), StatusCode::OK);
    let left = json!({"event": "participant_left", "id": "EV_metrics_1",
                      "room": {"name": "nobody-here"}, "participant": {"identity": "x"}})
    .to_string();
    let secret = livekit_emulator::DEV_API_SECRET;
    app.post_webhook(&left, secret).await;
    app.post_webhook(&left, secret).await;
    let finished = json!({"event": "room_finished", "id": "EV_metrics_2",
                          "room": {"name": "gone-already"}})
    .to_string();
    app.post_webhook(&finished, secret).await;
    app.post_webhook(&finished, "not-the-secret-of-this-livekit")
        .await;
}

/// A gRPC subscriber that stops reading is cut off as a slow consumer.
async fn slow_consumer(app: &TestApp) {
    let id = app.new_stream_id().await;
    let small_window = tonic::transport::Endpoint::from_shared(format!("http://{}", app.grpc_addr))
        .unwrap()
        .initial_stream_window_size(Some(16 * 1024))
        .initial_connection_window_size(Some(16 * 1024))
        .connect()
        .await
        .unwrap();
    let mut stalled = GrpcClient::new(small_window)
        .subscribe(SubscribeRequest {
            stream_id: id.clone(),
            ..SubscribeRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    let padding = "x".repeat(8 * 1024);
    for n in 0..40 {
        let response = app
            .update_stream(&id, json!({"metadata": {"n": n, "padding": padding}}))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let ended = loop {
        match tokio::time::timeout(WAIT, stalled.message()).await.unwrap() {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(ended.code(), tonic::Code::ResourceExhausted);
}

/// A participant LiveKit reports while webhooks are lost: the reconciler repairs the stream.
async fn reconciler_repair(app: &TestApp) {
    app.emulator().set_webhooks_enabled(false);
    let id = app.new_stream_id().await;
    let joined = app.joined(&id, json!({"participantName": "grace"})).await;
    app.emulator()
        .connect(joined["token"].as_str().unwrap())
        .await
        .unwrap();
    app.wait_for_stream(&id, |s| s["participants"][0]["sid"].is_string())
        .await;
    app.emulator().set_webhooks_enabled(true);
}

/// An output whose first egress start fails and is retried, then runs.
async fn broadcast(app: &TestApp) {
    let id = app.new_stream_id().await;
    let added = app
        .request(reqwest::Method::POST, &format!("/streams/{id}/outputs"))
        .json(&json!({"type": "hls"}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::CREATED);
    app.emulator().refuse_next_egress_starts(1);
    let started = app
        .request(
            reqwest::Method::POST,
            &format!("/streams/{id}/outputs/hls/start"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    wait_for_scrape("the output's retry started an egress", |s| {
        s.value("orchestrator_egress_starts_total{outcome=\"accepted\"}") >= 1.0
    })
    .await;
}

/// Polls until a scrape satisfies `condition`.
async fn wait_for_scrape(what: &str, condition: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let scrape = Scrape::now();
        if condition(&scrape) {
            return scrape;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Redis stops answering (every client paused): a command times out, the breaker opens,
/// operations fail fast and the instance is not ready until Redis answers again. Returns a
/// scrape taken while the breaker was open.
async fn redis_stall(app: &TestApp, redis: &redis_harness::RedisServer) -> Scrape {
    redis_harness::redis_cli(redis.port(), &["CLIENT", "PAUSE", "4000", "ALL"]);
    let response = app.list_streams("").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let during = wait_for_scrape("the breaker opened and readiness fell", |s| {
        s.value("orchestrator_redis_breaker_open") == 1.0 && s.value("orchestrator_ready") == 0.0
    })
    .await;
    wait_for_scrape("Redis answers again", |s| {
        s.value("orchestrator_redis_breaker_open") == 0.0 && s.value("orchestrator_ready") == 1.0
    })
    .await;
    during
}

/// The families of the orchestrator's own areas (not the process's, not the build's).
fn exercised(family: &&Family) -> bool {
    family.name.starts_with("orchestrator_") && family.name != "orchestrator_build_info"
}

/// Whether a line of the exposition holds something shaped like a UUID (a stream or
/// participant id in a label would be).
fn holds_an_id(line: &str) -> bool {
    line.split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .any(|token| {
            token.len() == 36
                && [8, 13, 18, 23]
                    .iter()
                    .all(|&at| token.as_bytes()[at] == b'-')
        })
}

#[tokio::test]
async fn every_family_moves_when_its_area_is_exercised() {
    // The process's subscriber, as `main` installs it: it counts what actix-http cannot parse.
    let quiet = orchestrator::settings::LogSettings {
        format: orchestrator::settings::LogFormat::Json,
        level: "off".into(),
    };
    let _logs = orchestrator::telemetry::init(&quiet).unwrap();
    let before = Scrape::now();
    let redis = redis_harness::owned_server();
    let mut app = instrumented_app(redis.url()).await;
    let first = Scrape(app.metrics_text().await);
    malformed_request(&app).await;

    let connected = stream_life(&app).await;
    webhooks(&app).await;
    slow_consumer(&app).await;
    protocol_error(&app).await;
    reconciler_repair(&app).await;
    broadcast(&app).await;
    let outage = redis_stall(&app, &redis).await;
    let served = Scrape(app.metrics_text().await);
    app.begin_shutdown();
    let after = wait_for_scrape("the reconciler lease was released at shutdown", |s| {
        s.value("orchestrator_reconciler_lease_changes_total{change=\"released\"}") >= 1.0
    })
    .await;

    for family in FAMILIES {
        let from_start = matches!(family.series, Series::FromStart | Series::WithRedis);
        assert!(
            !from_start || first.has_series(family.name),
            "{} has no series at the first scrape:\n{}",
            family.name,
            first.0
        );
    }
    for family in FAMILIES.iter().filter(exercised) {
        let (name, kind) = (family.name, family.kind);
        let moved = match kind {
            Kind::Counter | Kind::Histogram => after.total(name, kind) > before.total(name, kind),
            // Every gauge starts at 0.
            Kind::Gauge => [&connected, &outage, &served, &after]
                .iter()
                .any(|scrape| scrape.total(name, kind) != 0.0),
        };
        assert!(moved, "{name} did not move:\n{}", after.0);
    }
    assert_eq!(connected.value("orchestrator_ws_connections"), 1.0);
    assert_eq!(connected.value("orchestrator_grpc_subscriptions"), 1.0);
    assert_eq!(served.value("orchestrator_ws_connections"), 0.0);
    assert_eq!(served.value("orchestrator_ready"), 1.0);
    assert_eq!(served.value("orchestrator_reconciler_leader"), 1.0);
    assert_eq!(after.value("orchestrator_reconciler_leader"), 0.0);
    assert!(served.value("orchestrator_reconciler_last_pass_timestamp_seconds") > 1.0e9);
    for series in [
        "orchestrator_http_requests_total{method=\"POST\",route=\"/streams/{id}/join\",status=\"200\"}",
        "orchestrator_grpc_requests_total{method=\"StreamService/CreateStream\",code=\"OK\"}",
        "orchestrator_grpc_requests_total{method=\"StreamService/Subscribe\",code=\"RESOURCE_EXHAUSTED\"}",
        "orchestrator_events_delivered_total{transport=\"ws\"}",
        "orchestrator_events_delivered_total{transport=\"grpc\"}",
        "orchestrator_slow_consumer_disconnects_total{transport=\"grpc\"}",
        "orchestrator_ws_protocol_errors_total{reason=\"fragmented_control\"}",
        "orchestrator_livekit_requests_total{method=\"create_room\",outcome=\"ok\"}",
        "orchestrator_webhooks_total{outcome=\"applied\"}",
        "orchestrator_webhooks_total{outcome=\"duplicate\"}",
        "orchestrator_webhooks_total{outcome=\"unknown_room\"}",
        "orchestrator_webhooks_total{outcome=\"room_not_live\"}",
        "orchestrator_webhooks_total{outcome=\"rejected\"}",
        "orchestrator_events_published_total{type=\"participant_joined\"}",
    ] {
        assert!(after.value(series) > before.value(series), "{series}");
    }
    let labelled_ids: Vec<&str> = after.0.lines().filter(|l| holds_an_id(l)).collect();
    assert!(labelled_ids.is_empty(), "ids in labels: {labelled_ids:?}");
    assert!(!after.0.contains("nobody-here"), "no room name in a label");
}
