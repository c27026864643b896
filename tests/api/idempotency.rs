//! Idempotency keys: one execution per key, replays marked, misuse refused.

use std::time::Duration;

use orchestrator::Settings;
use orchestrator_tests::{assert_error, spawn_app, spawn_app_with, TestApp};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

async fn post_with_key(app: &TestApp, path: &str, key: &str, body: Value) -> Response {
    app.client
        .post(format!("{}{path}", app.base))
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn stream_count(app: &TestApp) -> usize {
    let all = app.streams().await;
    all.len()
}

#[tokio::test]
async fn a_retry_with_the_same_key_replays_the_first_answer_and_executes_nothing() {
    let app = spawn_app().await;

    let first = post_with_key(&app, "/streams", "create-1", json!({"roomName": "once"})).await;
    let first_status = first.status();
    let first_headers = first.headers().clone();
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_body: Value = first.json().await.unwrap();
    let retry = post_with_key(&app, "/streams", "create-1", json!({"roomName": "once"})).await;

    assert_eq!(first_status, StatusCode::CREATED);
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    for header in ["location", "etag", "content-type"] {
        assert_eq!(
            retry.headers()[header],
            first_headers[header],
            "{header} replayed"
        );
    }
    assert_eq!(retry.json::<Value>().await.unwrap(), first_body);
    assert_eq!(stream_count(&app).await, 1);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_a_422_and_changes_nothing() {
    let app = spawn_app().await;
    post_with_key(&app, "/streams", "k", json!({"roomName": "a"})).await;

    let reused = post_with_key(&app, "/streams", "k", json!({"roomName": "b"})).await;

    assert_error(
        reused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(stream_count(&app).await, 1);
}

#[tokio::test]
async fn keys_are_scoped_by_method_and_route() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;

    let join = post_with_key(
        &app,
        &format!("/streams/{id}/join"),
        "same",
        json!({"participantName": "ada"}),
    )
    .await;
    let leave = post_with_key(
        &app,
        &format!("/streams/{id}/leave"),
        "same",
        json!({"participantName": "ada"}),
    )
    .await;

    assert_eq!(join.status(), StatusCode::OK);
    assert_eq!(leave.status(), StatusCode::OK);
    assert!(leave.headers().get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn error_answers_are_replayed_too() {
    let app = spawn_app().await;
    let unknown = uuid::Uuid::new_v4();
    let path = format!("/streams/{unknown}/join");

    let first = post_with_key(&app, &path, "j", json!({"participantName": "ada"})).await;
    let retry = post_with_key(&app, &path, "j", json!({"participantName": "ada"})).await;

    assert_eq!(first.status(), StatusCode::NOT_FOUND);
    assert_eq!(retry.status(), StatusCode::NOT_FOUND);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
}

#[tokio::test]
async fn patch_and_delete_honour_keys() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let patch = |key: &'static str, n: u32| {
        app.client
            .patch(format!("{}/streams/{id}", app.base))
            .header("Idempotency-Key", key)
            .json(&json!({"metadata": {"n": n}}))
            .send()
    };

    assert_eq!(patch("p", 1).await.unwrap().status(), StatusCode::OK);
    let replayed = patch("p", 1).await.unwrap();
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    assert_eq!(
        app.stream(&id).await["version"],
        2,
        "the replay changed nothing"
    );
    let delete = || {
        app.client
            .delete(format!("{}/streams/{id}", app.base))
            .header("Idempotency-Key", "d")
            .send()
    };
    assert_eq!(delete().await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        delete().await.unwrap().headers()["idempotent-replayed"],
        "true"
    );
}

#[tokio::test]
async fn a_read_with_a_key_is_answered_fresh_each_time_never_replayed() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let get = || {
        app.client
            .get(format!("{}/streams/{id}", app.base))
            .header("Idempotency-Key", "read-1")
            .send()
    };

    let first = get().await.unwrap();
    let first_version = first.json::<Value>().await.unwrap()["version"].clone();
    app.client
        .patch(format!("{}/streams/{id}", app.base))
        .json(&json!({"metadata": {"n": 1}}))
        .send()
        .await
        .unwrap();
    let second = get().await.unwrap();

    assert_eq!(second.status(), StatusCode::OK);
    assert!(second.headers().get("idempotent-replayed").is_none());
    assert_eq!(first_version, 1);
    assert_eq!(second.json::<Value>().await.unwrap()["version"], 2);
}

#[tokio::test]
async fn a_key_over_255_characters_or_with_control_characters_is_a_400() {
    let app = spawn_app().await;

    let long = post_with_key(&app, "/streams", &"k".repeat(256), json!({})).await;
    let longest = post_with_key(&app, "/streams", &"k".repeat(255), json!({})).await;

    assert_error(long, StatusCode::BAD_REQUEST, "invalid_idempotency_key").await;
    assert_eq!(longest.status(), StatusCode::CREATED);
    assert_eq!(stream_count(&app).await, 1);
}

/// An app whose LiveKit accepts connections but never answers, so creating a stream takes
/// the whole LiveKit timeout and then fails with 503.
async fn app_with_a_hanging_livekit() -> (TestApp, std::net::TcpListener) {
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut settings = Settings::for_tests();
    settings.livekit.url = format!("http://{}", hanging.local_addr().unwrap());
    settings.livekit.api_key = "key".into();
    settings.livekit.api_secret = "secret-of-at-least-32-characters-long".into();
    settings.livekit.request_timeout_secs = 2;
    (spawn_app_with(settings).await, hanging)
}

#[tokio::test]
async fn a_retry_while_the_first_is_running_is_a_409_and_a_5xx_is_not_kept() {
    let (app, _hanging) = app_with_a_hanging_livekit().await;

    let first = post_with_key(&app, "/streams", "slow", json!({}));
    let during = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        post_with_key(&app, "/streams", "slow", json!({})).await
    };
    let (first, during) = tokio::join!(first, during);

    assert_error(during, StatusCode::CONFLICT, "idempotency_key_in_use").await;
    assert_error(
        first,
        StatusCode::SERVICE_UNAVAILABLE,
        "livekit_unavailable",
    )
    .await;
    let retry = post_with_key(&app, "/streams", "slow", json!({})).await;
    assert!(
        retry.headers().get("idempotent-replayed").is_none(),
        "executed again"
    );
    assert_eq!(retry.status(), StatusCode::SERVICE_UNAVAILABLE);
}
