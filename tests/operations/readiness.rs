//! Readiness, over HTTP (`/health/ready`, `/ready`) and gRPC (`grpc.health.v1`): ready while
//! the store and LiveKit answer, not ready (saying which) while LiveKit does not, and not ready
//! first when shutting down while requests still succeed. (The store down: the Redis outage
//! suite, `tests/distributed/outage.rs`.)

use std::time::Duration;

use orchestrator::Settings;
use orchestrator_tests::{spawn_app, spawn_app_with, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// How long a readiness change may take to show (the checks run every 100 ms in tests).
const WITHIN: Duration = Duration::from_secs(15);

/// The gRPC health of the server as a whole (`""`) and of the orchestrator's service.
async fn grpc_health(app: &TestApp) -> [ServingStatus; 2] {
    let mut client = HealthClient::new(app.grpc_channel().await);
    let mut statuses = [ServingStatus::Unknown; 2];
    let services = ["", "livestream.orchestrator.v1.StreamService"];
    for (status, service) in statuses.iter_mut().zip(services) {
        let request = HealthCheckRequest {
            service: service.to_owned(),
        };
        *status = client.check(request).await.unwrap().into_inner().status();
    }
    statuses
}

/// Polls the gRPC health until both statuses are `expected` (at most [`WITHIN`]).
async fn wait_for_grpc_health(app: &TestApp, expected: ServingStatus) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let statuses = grpc_health(app).await;
        if statuses == [expected; 2] {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gRPC health still {statuses:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ready(app: &TestApp, path: &str) -> reqwest::Response {
    app.request(Method::GET, path).send().await.unwrap()
}

/// Polls `path` until it answers `status` (at most [`WITHIN`]).
async fn wait_for_ready_status(app: &TestApp, status: StatusCode) -> reqwest::Response {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let response = ready(app, "/health/ready").await;
        if response.status() == status {
            return response;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/health/ready still {}, expected {status}",
            response.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_ready_instance_says_so_over_http_and_grpc() {
    let app = spawn_app().await;

    for path in ["/health/ready", "/ready", "/readyz"] {
        let response = ready(&app, path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({"status": "ready", "checks": {"store": "up", "livekit": "up"}}),
            "{path}"
        );
    }
    assert_eq!(grpc_health(&app).await, [ServingStatus::Serving; 2]);
}

#[tokio::test]
async fn while_livekit_does_not_answer_the_instance_is_not_ready_and_says_why() {
    // LiveKit's address accepts connections but answers nothing until the emulator serves it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut settings = Settings::for_tests();
    settings.livekit.url = format!("http://{}", listener.local_addr().unwrap());
    settings.livekit.api_key = "key".into();
    settings.livekit.api_secret = "a-secret-of-at-least-32-characters-long".into();
    settings.livekit.request_timeout_secs = 1;
    let app = spawn_app_with(settings).await;

    let refused = wait_for_ready_status(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        (&body["status"], &body["checks"], &body["reason"]),
        (
            &json!("not_ready"),
            &json!({"store": "up", "livekit": "down"}),
            &json!("livekit_unavailable")
        ),
        "the shape of a ready answer, saying which dependency is down: {body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("LiveKit"),
        "{body}"
    );
    wait_for_grpc_health(&app, ServingStatus::NotServing).await;
    assert_eq!(
        app.list_streams("").await.status(),
        StatusCode::OK,
        "reads still work"
    );

    let emulator = livekit_emulator::Emulator::new(livekit_emulator::EmulatorConfig::new(
        "key",
        "a-secret-of-at-least-32-characters-long",
    ));
    tokio::spawn(livekit_emulator::serve(
        listener,
        emulator,
        std::future::pending(),
    ));

    wait_for_ready_status(&app, StatusCode::OK).await;
    wait_for_grpc_health(&app, ServingStatus::Serving).await;
}

#[tokio::test]
async fn at_shutdown_readiness_turns_false_first_while_requests_still_succeed() {
    let mut settings = Settings::for_tests();
    settings.http.drain_grace_ms = 5_000;
    let mut app = spawn_app_with(settings).await;
    let id = app.new_stream_id().await;

    app.begin_shutdown();

    let draining = wait_for_ready_status(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    let body: Value = draining.json().await.unwrap();
    assert_eq!(body["status"], "draining", "{body}");
    assert_eq!(body["reason"], "draining", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("shutting down"),
        "{body}"
    );
    assert_eq!(
        app.get_stream(&id).await.status(),
        StatusCode::OK,
        "still serving while the load balancer notices"
    );
    wait_for_grpc_health(&app, ServingStatus::NotServing).await;

    // Then the servers stop.
    let deadline = tokio::time::Instant::now() + WITHIN;
    while tokio::net::TcpStream::connect(app.addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still accepting connections after the drain grace"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
