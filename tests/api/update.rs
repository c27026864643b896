use orchestrator_tests::{assert_error, spawn_app};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn patch_merges_metadata_and_bumps_the_version() {
    let app = spawn_app().await;
    let id = app
        .created_stream(json!({"metadata": {"title": "A", "keep": true, "drop": 1}}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let response = app
        .update_stream(&id, json!({"metadata": {"title": "B", "drop": null}}))
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "\"2\"");
    let stream: Value = response.json().await.unwrap();
    assert_eq!(stream["metadata"], json!({"title": "B", "keep": true}));
    assert_eq!(stream["version"], 2);
}

#[tokio::test]
async fn patch_follows_the_status_machine() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;

    app.updated(&id, json!({"status": "error"})).await;
    let back_to_active = app.update_stream(&id, json!({"status": "active"})).await;

    let body = assert_error(back_to_active, StatusCode::CONFLICT, "invalid_transition").await;
    assert!(body["message"].as_str().unwrap().contains("error"));
    assert_eq!(app.stream(&id).await["status"], "error");
}

#[tokio::test]
async fn patch_to_stopped_stops_the_stream_and_deletes_the_room() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;

    let response = app.update_stream(&id, json!({"status": "stopped"})).await;

    assert_eq!(response.status(), StatusCode::OK);
    let stream: Value = response.json().await.unwrap();
    assert_eq!(stream["status"], "stopped");
    assert!(stream["stoppedAt"].is_string());
    assert!(app
        .emulator()
        .rooms()
        .iter()
        .all(|r| r.name != format!("room-{id}")));
}

#[tokio::test]
async fn patch_with_a_stale_version_is_a_409_and_changes_nothing() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    app.updated(&id, json!({"metadata": {"n": 1}})).await;

    let stale = app
        .update_stream(&id, json!({"metadata": {"n": 2}, "version": 1}))
        .await;

    assert_error(stale, StatusCode::CONFLICT, "version_conflict").await;
    assert_eq!(app.stream(&id).await["metadata"], json!({"n": 1}));
    let current = app
        .update_stream(&id, json!({"metadata": {"n": 3}, "version": 2}))
        .await;
    assert_eq!(current.status(), StatusCode::OK);
}

#[tokio::test]
async fn patch_with_a_stale_if_match_is_a_412_and_the_current_etag_works() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let etag = app.get_stream(&id).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    app.updated(&id, json!({"metadata": {"n": 1}})).await;

    let stale = app
        .update_stream_if_match(&id, &etag, json!({"metadata": {"n": 2}}))
        .await;
    assert_error(
        stale,
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
    )
    .await;

    let fresh = app.get_stream(&id).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let ok = app
        .update_stream_if_match(&id, &fresh, json!({"metadata": {"n": 2}}))
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(app.stream(&id).await["metadata"], json!({"n": 2}));
}

#[tokio::test]
async fn patch_refuses_malformed_if_match_unknown_status_and_non_object_metadata() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;

    let bad_header = app.update_stream_if_match(&id, "three", json!({})).await;
    assert_error(bad_header, StatusCode::BAD_REQUEST, "invalid_header").await;
    let bad_status = app.update_stream(&id, json!({"status": "paused"})).await;
    assert_eq!(
        assert_error(bad_status, StatusCode::BAD_REQUEST, "invalid_field").await["field"],
        "status"
    );
    let bad_metadata = app.update_stream(&id, json!({"metadata": "x"})).await;
    assert_eq!(
        assert_error(bad_metadata, StatusCode::BAD_REQUEST, "invalid_field").await["field"],
        "metadata"
    );
    let bad_version = app.update_stream(&id, json!({"version": -1})).await;
    assert_error(bad_version, StatusCode::BAD_REQUEST, "invalid_field").await;

    assert_eq!(app.stream(&id).await["version"], 1, "nothing changed");
}

#[tokio::test]
async fn patch_of_an_unknown_stream_is_a_404() {
    let app = spawn_app().await;

    let response = app
        .update_stream(&uuid::Uuid::new_v4().to_string(), json!({"metadata": {}}))
        .await;

    assert_error(response, StatusCode::NOT_FOUND, "stream_not_found").await;
}
