//! `GET /events/:streamId`: a stream's event log, a page at a time, for clients that poll.

use orchestrator_tests::{assert_error, spawn_app};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn a_streams_events_page_after_a_seq_with_a_link_to_the_next_page() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    for name in ["a", "b", "c"] {
        app.joined(&id, json!({ "participantName": name })).await;
    }

    let first = app
        .client
        .get(format!("{}/events/{id}?limit=2", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let link = first.headers()["link"].to_str().unwrap().to_owned();
    let page: Vec<Value> = first.json().await.unwrap();
    let rest: Vec<Value> = app
        .client
        .get(format!("{}/events/{id}?afterSeq=2&limit=2", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let seqs = |events: &[Value]| {
        events
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(seqs(&page), [1, 2]);
    assert_eq!(page[0]["type"], "stream_created");
    assert!(
        link.contains("afterSeq=2") && link.contains("limit=2"),
        "{link}"
    );
    assert_eq!(seqs(&rest), [3, 4]);
    assert_eq!(rest[1]["data"]["participant"]["identity"], "c");
}

#[tokio::test]
async fn bad_positions_are_400_and_unknown_streams_404() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let get = |query: String| {
        app.client
            .get(format!("{}/events/{query}", app.base))
            .send()
    };

    for query in [
        format!("{id}?afterSeq=-1"),
        format!("{id}?limit=0"),
        format!("{id}?limit=x"),
    ] {
        assert_error(
            get(query).await.unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        )
        .await;
    }
    let unknown = uuid::Uuid::new_v4();
    assert_error(
        get(unknown.to_string()).await.unwrap(),
        StatusCode::NOT_FOUND,
        "stream_not_found",
    )
    .await;
}
