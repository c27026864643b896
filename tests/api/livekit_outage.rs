//! LiveKit unreachable: clear 503s with Retry-After, and nothing changes.

use orchestrator::Settings;
use orchestrator_tests::{assert_error, spawn_app_with, TestApp};
use reqwest::StatusCode;
use serde_json::json;

/// An app whose LiveKit URL points at a port nothing listens on.
async fn app_without_livekit() -> TestApp {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut settings = Settings::for_tests();
    settings.livekit.url = url;
    settings.livekit.api_key = "key".into();
    settings.livekit.api_secret = "secret-of-at-least-32-characters-long".into();
    settings.livekit.request_timeout_secs = 2;
    spawn_app_with(settings).await
}

#[tokio::test]
async fn create_while_livekit_is_down_is_a_503_with_retry_after_and_creates_nothing() {
    let app = app_without_livekit().await;

    let response = app.create_stream(json!({"roomName": "studio"})).await;

    assert_eq!(response.headers()["retry-after"], "1");
    assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "livekit_unavailable",
    )
    .await;
    let all = app.streams().await;
    assert!(all.is_empty());
}

#[tokio::test]
async fn reads_do_not_need_livekit() {
    let app = app_without_livekit().await;

    assert_eq!(app.health().await.status(), StatusCode::OK);
    assert_eq!(app.list_streams("").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn create_refused_by_livekit_is_a_502_and_creates_nothing() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let emulator = livekit_emulator::Emulator::new(livekit_emulator::EmulatorConfig::new(
        "key",
        "the-real-secret-of-at-least-32-characters",
    ));
    tokio::spawn(livekit_emulator::serve(
        listener,
        emulator,
        std::future::pending(),
    ));
    let mut settings = Settings::for_tests();
    settings.livekit.url = url;
    settings.livekit.api_key = "key".into();
    settings.livekit.api_secret = "a-wrong-secret-of-at-least-32-characters".into();
    let app = spawn_app_with(settings).await;

    let response = app.create_stream(json!({})).await;

    assert_error(response, StatusCode::BAD_GATEWAY, "livekit_error").await;
    let all = app.streams().await;
    assert!(all.is_empty());
}
