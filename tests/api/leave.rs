use orchestrator_tests::{assert_error, spawn_app};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn leave_marks_the_participant_left_and_disconnects_the_media_session() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let joined = app.joined(&id, json!({"participantName": "ada"})).await;
    app.emulator()
        .connect(joined["token"].as_str().unwrap())
        .await
        .unwrap();
    let room = format!("room-{id}");
    assert_eq!(app.emulator().participants(&room).len(), 1);

    let response = app.leave(&id, json!({"participantName": "ada"})).await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert!(body["stream"]["participants"][0]["leftAt"].is_string());
    assert!(
        app.emulator().participants(&room).is_empty(),
        "removed from the LiveKit room"
    );
}

#[tokio::test]
async fn leaving_without_a_media_session_is_fine() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    app.joined(&id, json!({"participantName": "ada"})).await;

    let response = app.leave(&id, json!({"participantName": "ada"})).await;

    assert_eq!(
        response.status(),
        StatusCode::OK,
        "LiveKit's not_found is not an error"
    );
}

#[tokio::test]
async fn leaving_twice_is_200_twice_and_one_event() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    app.joined(&id, json!({"participantName": "ada"})).await;

    let first = app.leave(&id, json!({"participantName": "ada"})).await;
    let seq_after_first = app.state(&id).await["seq"].clone();
    let second = app.leave(&id, json!({"participantName": "ada"})).await;

    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(seq_after_first, 3);
    assert_eq!(app.state(&id).await["seq"], 3);
}

#[tokio::test]
async fn leaving_a_stream_one_never_joined_is_a_404() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;

    let response = app.leave(&id, json!({"participantName": "ghost"})).await;

    assert_error(response, StatusCode::NOT_FOUND, "participant_not_found").await;
}

#[tokio::test]
async fn leave_needs_a_participant_name() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;

    let response = app.leave(&id, json!({"name": "ada"})).await;

    assert_error(response, StatusCode::BAD_REQUEST, "invalid_field").await;
}
