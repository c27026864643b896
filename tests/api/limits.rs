//! Input limits: metadata size, depth and numbers, identities that could impersonate, huge ids.
//! Each is a clear 4xx that changes nothing, with a message that does not echo the input back.

use orchestrator_tests::{assert_error, spawn_app};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn nested(levels: usize) -> Value {
    let mut value = json!(1);
    for _ in 0..levels {
        value = json!({ "d": value });
    }
    value
}

#[tokio::test]
async fn metadata_beyond_the_limits_is_refused_on_create_and_changes_nothing() {
    let app = spawn_app().await;
    for metadata in [
        json!({ "blob": "x".repeat(16 * 1024) }),
        nested(33),
        json!({ "n": 9_007_199_254_740_993_u64 }),
        json!({ "n": [1e300] }),
    ] {
        let body = assert_error(
            app.create_stream(json!({ "metadata": metadata })).await,
            StatusCode::BAD_REQUEST,
            "invalid_field",
        )
        .await;
        assert!(body.to_string().contains("metadata"), "{body}");
    }
    let streams = app.streams().await;
    assert!(streams.is_empty());
}

#[tokio::test]
async fn a_patch_that_would_grow_the_metadata_past_the_limit_is_refused() {
    let app = spawn_app().await;
    let half = "x".repeat(9 * 1024);
    let id = app
        .created_stream(json!({ "metadata": { "a": half } }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let response = app
        .update_stream(&id, json!({ "metadata": { "b": half } }))
        .await;

    assert_error(response, StatusCode::BAD_REQUEST, "invalid_field").await;
    let stream = app.stream(&id).await;
    assert_eq!(stream["version"], 1, "nothing changed");
    assert!(stream["metadata"].get("b").is_none());
}

#[tokio::test]
async fn updates_record_the_patch_not_the_whole_metadata() {
    let app = spawn_app().await;
    let big = "x".repeat(12 * 1024);
    let id = app
        .created_stream(json!({ "metadata": { "big": big, "n": 1 } }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    for n in 2..=50 {
        let response = app
            .update_stream(&id, json!({ "metadata": { "n": n } }))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    let stream_id = orchestrator_domain::values::StreamId::parse(&id).unwrap();
    let log = app.events.read_after(stream_id, 1, 100).await.unwrap();
    assert_eq!(log.len(), 49);
    let logged: usize = log.iter().map(|e| e.data.to_string().len()).sum();
    assert!(
        logged < 49 * 200,
        "the log grows with what changed: {logged} bytes"
    );
    assert_eq!(log[48].data["metadataPatch"], json!({ "n": 50 }));
}

#[tokio::test]
async fn identities_that_could_impersonate_another_are_refused() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    for sneaky in [
        "admin\u{202E}",
        "ad\u{200B}min",
        "\u{FEFF}admin",
        "a\u{0007}b",
    ] {
        assert_error(
            app.join(&id, json!({ "participantName": sneaky })).await,
            StatusCode::BAD_REQUEST,
            "invalid_field",
        )
        .await;
    }
    assert_eq!(app.stream(&id).await["audience"]["totalJoined"], 0);
}

#[tokio::test]
async fn a_huge_id_is_not_echoed_back() {
    let app = spawn_app().await;
    let huge = "z".repeat(10_000);

    let response = app.get_stream(&huge).await;

    let status = response.status();
    let body = response.text().await.unwrap();
    assert!(
        status == StatusCode::NOT_FOUND || status == StatusCode::URI_TOO_LONG,
        "{status}"
    );
    assert!(
        body.len() < 1_000,
        "the answer does not echo the id: {} bytes",
        body.len()
    );
}
