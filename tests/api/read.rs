use orchestrator_tests::{assert_error, spawn_app};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn get_returns_the_stream_with_its_participants_and_etag() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    app.joined(&id, json!({"participantName": "ada", "role": "host"}))
        .await;

    let response = app.get_stream(&id).await;

    assert_eq!(response.status(), StatusCode::OK);
    // Participants coming and going do not change the stream itself, nor its version.
    assert_eq!(response.headers()["etag"], "\"1\"");
    let stream: Value = response.json().await.unwrap();
    assert_eq!(stream["id"], id.as_str());
    let participant = &stream["participants"][0];
    assert_eq!(participant["identity"], "ada");
    assert_eq!(participant["role"], "host");
    assert!(participant["joinedAt"].is_string());
    assert_eq!(participant["leftAt"], Value::Null);
}

#[tokio::test]
async fn an_unknown_or_malformed_stream_id_is_a_404() {
    let app = spawn_app().await;
    for id in [uuid::Uuid::new_v4().to_string(), "not-a-uuid".to_owned()] {
        assert_error(
            app.get_stream(&id).await,
            StatusCode::NOT_FOUND,
            "stream_not_found",
        )
        .await;
        assert_error(
            app.stream_state(&id).await,
            StatusCode::NOT_FOUND,
            "stream_not_found",
        )
        .await;
    }
}

#[tokio::test]
async fn state_has_the_seed_fields_plus_seq_and_active_count() {
    let app = spawn_app().await;
    let id = app
        .created_stream(json!({"metadata": {"title": "Show"}}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.joined(&id, json!({"participantName": "ada"})).await;
    app.joined(&id, json!({"participantName": "bob"})).await;
    app.left(&id, "bob").await;

    let state = app.state(&id).await;

    assert_eq!(state["streamId"], id.as_str());
    assert_eq!(state["status"], "active");
    assert_eq!(state["metadata"], json!({"title": "Show"}));
    assert!(state["startedAt"].is_string());
    assert!(state["updatedAt"].is_string());
    assert_eq!(state["stoppedAt"], Value::Null);
    assert_eq!(state["seq"], 4, "created, ada joined, bob joined, bob left");
    assert_eq!(state["activeParticipants"], 1);
    let participants = state["participants"].as_array().unwrap();
    assert_eq!(participants.len(), 2);
    for participant in participants {
        for field in ["id", "identity", "joinedAt", "leftAt"] {
            assert!(participant.get(field).is_some(), "{field} in {participant}");
        }
    }
    assert!(participants[1]["leftAt"].is_string());
}
