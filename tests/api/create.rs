use orchestrator_tests::{assert_error, spawn_app};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn is_rfc3339(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.len() >= 20 && s.as_bytes()[10] == b'T' && s.ends_with('Z'))
}

#[tokio::test]
async fn create_returns_201_with_the_seed_fields_and_a_livekit_room() {
    let app = spawn_app().await;

    let response = app.create_stream(json!({})).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let stream: Value = response.json().await.unwrap();
    let id = stream["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
    assert_eq!(location, format!("/streams/{id}"));
    assert_eq!(etag, "\"1\"");
    assert_eq!(stream["roomName"], format!("room-{id}"));
    assert_eq!(stream["status"], "active");
    assert_eq!(stream["metadata"], json!({}));
    assert_eq!(stream["participants"], json!([]));
    assert_eq!(stream["version"], 1);
    assert!(is_rfc3339(&stream["createdAt"]), "{}", stream["createdAt"]);
    assert!(is_rfc3339(&stream["updatedAt"]));
    assert_eq!(stream["stoppedAt"], Value::Null);
    let rooms = app.emulator().rooms();
    assert!(rooms.iter().any(|room| room.name == format!("room-{id}")));
}

#[tokio::test]
async fn create_keeps_the_given_room_name_and_metadata() {
    let app = spawn_app().await;

    let stream = app
        .created_stream(json!({"roomName": "launch-2026", "metadata": {"title": "Launch"}}))
        .await;

    assert_eq!(stream["roomName"], "launch-2026");
    assert_eq!(stream["metadata"], json!({"title": "Launch"}));
    assert_eq!(
        app.stream(stream["id"].as_str().unwrap()).await["roomName"],
        "launch-2026"
    );
}

#[tokio::test]
async fn create_without_a_body_uses_the_defaults() {
    let app = spawn_app().await;

    let response = app
        .send_raw(reqwest::Method::POST, "/streams", None, "")
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_room_name_used_by_a_live_stream_conflicts_and_creates_nothing() {
    let app = spawn_app().await;
    app.created_stream(json!({"roomName": "studio"})).await;

    let response = app.create_stream(json!({"roomName": "studio"})).await;

    assert_error(response, StatusCode::CONFLICT, "room_name_taken").await;
    let all = app.streams().await;
    assert_eq!(all.len(), 1);
}

#[tokio::test]
async fn a_room_name_is_free_again_once_its_stream_stopped() {
    let app = spawn_app().await;
    let first = app.created_stream(json!({"roomName": "studio"})).await;
    app.stop_stream(first["id"].as_str().unwrap()).await;

    let response = app.create_stream(json!({"roomName": "studio"})).await;

    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn invalid_room_names_are_refused_with_the_field_named() {
    let app = spawn_app().await;
    for bad in [
        json!(""),
        json!("has space"),
        json!("a".repeat(129)),
        json!("sl/ash"),
    ] {
        let response = app.create_stream(json!({ "roomName": bad })).await;
        let body = assert_error(response, StatusCode::BAD_REQUEST, "invalid_field").await;
        assert_eq!(body["field"], "roomName");
    }
    let response = app.create_stream(json!({"roomName": 42})).await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_field").await;
    let all = app.streams().await;
    assert!(all.is_empty(), "nothing was created");
}

#[tokio::test]
async fn metadata_must_be_an_object() {
    let app = spawn_app().await;

    let response = app.create_stream(json!({"metadata": [1, 2]})).await;

    let body = assert_error(response, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(body["field"], "metadata");
}
