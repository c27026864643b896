use std::time::Duration;

use orchestrator_tests::{assert_error, spawn_app_with, TestApp};
use reqwest::StatusCode;
use serde_json::json;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::support::instance_settings;

/// Polls the server's gRPC health until it is `expected` (at most 15 s).
async fn wait_for_grpc_health(app: &TestApp, expected: ServingStatus) {
    let mut client = HealthClient::new(app.grpc_channel().await);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let request = HealthCheckRequest::default();
        let status = client.check(request).await.unwrap().into_inner().status();
        if status == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gRPC health still {status:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn while_redis_is_down_requests_get_503s_and_the_service_recovers_by_itself() {
    let mut redis = redis_harness::owned_server();
    let mut settings = instance_settings(redis.url(), &redis_harness::unique_prefix(), "");
    settings.livekit.url = String::new(); // embedded emulator
    settings.livekit.api_key = String::new();
    settings.livekit.api_secret = String::new();
    let app = spawn_app_with(settings).await;
    let id = app.new_stream_id().await;
    let epoch_before = app.events.epoch().await.unwrap();

    redis.kill();

    let read = app.get_stream(&id).await;
    assert_eq!(read.headers()["retry-after"], "1");
    assert_error(read, StatusCode::SERVICE_UNAVAILABLE, "store_unavailable").await;
    let create = app.create_stream(json!({})).await;
    assert_error(create, StatusCode::SERVICE_UNAVAILABLE, "store_unavailable").await;
    let ready = app
        .client
        .get(format!("{}/health/ready", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["store"], "down", "{body}");
    assert_eq!(body["reason"], "store_unavailable", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("state store"),
        "says which dependency is down: {body}"
    );
    wait_for_grpc_health(&app, ServingStatus::NotServing).await;
    assert_eq!(
        app.health().await.status(),
        StatusCode::OK,
        "alive, just not ready"
    );

    redis.restart();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let response = app.create_stream(json!({})).await;
        if response.status() == StatusCode::CREATED {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not recovered within 15 s: {}",
            response.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ready = app
        .client
        .get(format!("{}/health/ready", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    wait_for_grpc_health(&app, ServingStatus::Serving).await;
    let epoch_after = app.events.epoch().await.unwrap();
    assert_ne!(
        epoch_after, epoch_before,
        "the restarted Redis kept nothing: a new epoch"
    );
    assert_error(
        app.get_stream(&id).await,
        StatusCode::NOT_FOUND,
        "stream_not_found",
    )
    .await;
}

#[tokio::test]
async fn an_instance_refuses_to_start_on_an_unreachable_redis() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut settings = instance_settings(&url, "x:", "");
    settings.livekit.url = String::new();
    settings.livekit.api_key = String::new();
    settings.livekit.api_secret = String::new();

    let started = std::panic::AssertUnwindSafe(spawn_app_with(settings));
    let outcome = futures_util::FutureExt::catch_unwind(started).await;

    let message = match outcome {
        Ok(_) => panic!("an instance started without its store"),
        Err(panic) => panic.downcast_ref::<String>().cloned().unwrap_or_default(),
    };
    assert!(message.contains("Redis"), "{message}");
}
