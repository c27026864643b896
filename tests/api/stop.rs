use orchestrator_tests::{assert_error, spawn_app};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn delete_stops_the_stream_and_deletes_the_livekit_room() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    app.joined(&id, json!({"participantName": "ada"})).await;

    let response = app.stop_stream(&id).await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert!(body["message"].as_str().is_some());
    assert_eq!(body["stream"]["status"], "stopped");
    assert!(body["stream"]["stoppedAt"].is_string());
    assert!(
        body["stream"]["participants"][0]["leftAt"].is_string(),
        "everyone left"
    );
    assert!(app
        .emulator()
        .rooms()
        .iter()
        .all(|r| r.name != format!("room-{id}")));
    let state = app.state(&id).await;
    assert_eq!(state["seq"], 4, "created, joined, stopping, stopped");
    assert_eq!(state["activeParticipants"], 0);
}

#[tokio::test]
async fn stopping_a_stopped_stream_is_200_again_with_no_new_event() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    app.stopped(&id).await;
    let seq = app.state(&id).await["seq"].clone();

    let again = app.stop_stream(&id).await;

    assert_eq!(again.status(), StatusCode::OK);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["stream"]["status"], "stopped");
    assert_eq!(app.state(&id).await["seq"], seq);
}

#[tokio::test]
async fn stopping_an_unknown_stream_is_a_404() {
    let app = spawn_app().await;

    let response = app.stop_stream(&uuid::Uuid::new_v4().to_string()).await;

    assert_error(response, StatusCode::NOT_FOUND, "stream_not_found").await;
}
