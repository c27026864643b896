use std::collections::HashSet;

use orchestrator_domain::{
    participant::Role, service::commands::JoinStream, service::StreamService, values::Identity,
};
use orchestrator_tests::{assert_error, spawn_app, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn create_streams(app: &TestApp, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(app.new_stream_id().await);
    }
    ids
}

/// The `<…>` target of a `Link: <…>; rel="next"` header.
fn next_link(response: &reqwest::Response) -> Option<String> {
    let link = response.headers().get("link")?.to_str().unwrap();
    assert!(link.ends_with("; rel=\"next\""), "{link}");
    Some(link[1..link.find('>').unwrap()].to_owned())
}

#[tokio::test]
async fn list_returns_a_json_array_of_streams_oldest_first() {
    let app = spawn_app().await;
    let ids = create_streams(&app, 3).await;

    let response = app.list_streams("").await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(next_link(&response).is_none());
    let streams: Vec<Value> = response.json().await.unwrap();
    let listed: Vec<&str> = streams.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(listed, ids);
}

#[tokio::test]
async fn list_pages_follow_the_link_header_through_every_stream_once() {
    let app = spawn_app().await;
    let ids = create_streams(&app, 5).await;

    let mut seen = Vec::new();
    let mut path = Some("?limit=2".to_owned());
    let mut pages = 0;
    while let Some(next) = path {
        let query = next.trim_start_matches("/streams");
        let response = app.list_streams(query).await;
        assert_eq!(response.status(), StatusCode::OK);
        path = next_link(&response);
        let page: Vec<Value> = response.json().await.unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|s| s["id"].as_str().unwrap().to_owned()));
        pages += 1;
        assert!(pages <= 5, "pagination terminates");
    }

    assert_eq!(pages, 3);
    assert_eq!(seen, ids);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 5);
}

#[tokio::test]
async fn list_filters_by_status_and_keeps_the_filter_in_the_next_link() {
    let app = spawn_app().await;
    let ids = create_streams(&app, 4).await;
    app.stop_stream(&ids[1]).await;
    app.stop_stream(&ids[3]).await;

    let response = app.list_streams("?status=active&limit=1").await;
    let next = next_link(&response).expect("a second page");
    let first: Vec<Value> = response.json().await.unwrap();
    let second: Vec<Value> = app
        .list_streams(next.trim_start_matches("/streams"))
        .await
        .json()
        .await
        .unwrap();

    assert!(next.contains("status=active"), "{next}");
    assert_eq!(first[0]["id"], ids[0].as_str());
    assert_eq!(second[0]["id"], ids[2].as_str());
    let stopped: Vec<Value> = app
        .list_streams("?status=stopped")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stopped.len(), 2);
    assert!(stopped.iter().all(|s| s["status"] == "stopped"));
}

#[tokio::test]
async fn list_refuses_an_unknown_status_a_bad_limit_and_a_forged_cursor_as_query_errors() {
    let app = spawn_app().await;
    create_streams(&app, 1).await;

    let body = assert_error(
        app.list_streams("?status=live").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    assert_eq!(body["field"], "status");
    for limit in ["0", "1001"] {
        let body = assert_error(
            app.list_streams(&format!("?limit={limit}")).await,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        )
        .await;
        assert_eq!(body["field"], "limit");
    }
    let body = assert_error(
        app.list_streams("?cursor=forged").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    assert_eq!(body["field"], "cursor");
}

#[tokio::test]
async fn list_accepts_the_largest_page() {
    let app = spawn_app().await;
    create_streams(&app, 2).await;

    let streams: Vec<Value> = app.list_streams("?limit=1000").await.json().await.unwrap();

    assert_eq!(streams.len(), 2);
    assert_eq!(streams[0]["participants"], json!([]));
    assert_eq!(streams[0]["audience"]["totalJoined"], 0);
}

/// `count` viewers join stream `id`, through the use cases (the API would take minutes).
async fn fill_audience(service: &StreamService, id: &str, count: usize) {
    let id = StreamService::parse_id(id).unwrap();
    let joins = (0..count).map(|n| {
        let service = service.clone();
        async move {
            let identity = Identity::new(format!("viewer-{n:06}")).unwrap();
            let join = JoinStream {
                identity,
                role: Role::Viewer,
                metadata: None,
            };
            service.join(id, join).await.unwrap();
        }
    });
    futures_util::future::join_all(joins).await;
}

#[tokio::test]
async fn a_listed_stream_carries_its_participants_while_few_and_its_counters_always() {
    let mut app = spawn_app().await;
    let small = app.new_stream_id().await;
    let large = app.new_stream_id().await;
    for name in ["ada", "grace"] {
        app.joined(&small, json!({"participantName": name})).await;
    }
    fill_audience(&app.service, &large, 100_000).await;
    // The fill kept this runtime busy past the server's keep-alive: a pooled connection may
    // have been closed without the client noticing yet.
    app.client = orchestrator_tests::http_client();

    let listed = app.streams().await;

    let [shown_small, shown_large] = listed.as_slice() else {
        panic!("two streams: {listed:?}");
    };
    assert_eq!(shown_small["id"], small.as_str());
    let names: Vec<&str> = shown_small["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identity"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ada", "grace"]);
    assert_eq!(shown_small["participantsTruncated"], false);
    assert_eq!(shown_large["participants"], json!([]));
    assert_eq!(shown_large["participantsTruncated"], true);
    assert_eq!(shown_large["audience"]["active"], 100_000);
    assert_eq!(shown_large["audience"]["viewers"], 100_000);
    assert_eq!(
        shown_small,
        &app.stream(&small).await,
        "as GET /streams/:id shows it"
    );
}
