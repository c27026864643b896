//! The audience of a stream: counters on the stream, participants paged on their own, the
//! original `participants` field kept for small streams.

use orchestrator_client::ListParticipants;
use orchestrator_tests::{assert_error, spawn_app, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn join_all(app: &TestApp, id: &str, names: &[&str]) {
    for name in names {
        app.joined(id, json!({"participantName": name})).await;
    }
}

fn identities(page: &Value) -> Vec<&str> {
    page.as_array()
        .unwrap()
        .iter()
        .map(|p| p["identity"].as_str().unwrap())
        .collect()
}

/// Only those present now.
fn only_present() -> ListParticipants {
    ListParticipants {
        active_only: true,
        ..ListParticipants::default()
    }
}

/// The path and query of a `Link: <…>; rel="next"` header.
fn next_page(response: &reqwest::Response) -> Option<String> {
    let link = response.headers().get("link")?.to_str().unwrap();
    let start = link.find('<')? + 1;
    let end = link.find('>')?;
    Some(link[start..end].to_owned())
}

#[tokio::test]
async fn the_stream_carries_its_audience_counters() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    app.joined(&id, json!({"participantName": "host", "role": "host"}))
        .await;
    join_all(&app, &id, &["v1", "v2"]).await;
    app.left(&id, "v2").await;

    let stream = app.stream(&id).await;
    let state = app.state(&id).await;

    let expected = json!({"active": 2, "hosts": 1, "viewers": 1, "connected": 0, "totalJoined": 3});
    assert_eq!(stream["audience"], expected);
    assert_eq!(state["audience"], expected);
    assert_eq!(state["activeParticipants"], 2);
    assert_eq!(stream["participants"].as_array().unwrap().len(), 3);
    assert_eq!(stream["participantsTruncated"], false);
}

#[tokio::test]
async fn participants_page_with_a_link_to_the_next_page() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    join_all(&app, &id, &["a", "b", "c", "d", "e"]).await;

    let first = app.participants(&id, "?limit=2").await;
    assert_eq!(first.status(), StatusCode::OK);
    let mut next = next_page(&first);
    let mut seen: Vec<String> = Vec::new();
    let body: Value = first.json().await.unwrap();
    seen.extend(identities(&body).iter().map(|s| s.to_string()));
    while let Some(path) = next {
        assert!(path.contains("limit=2"), "the page size is kept: {path}");
        let response = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        next = next_page(&response);
        let body: Value = response.json().await.unwrap();
        seen.extend(identities(&body).iter().map(|s| s.to_string()));
    }

    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
}

#[tokio::test]
async fn only_present_participants_when_asked() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    join_all(&app, &id, &["a", "b", "c"]).await;
    app.left(&id, "b").await;

    let (present, _) = app.participant_page(&id, only_present()).await;
    let (everyone, _) = app.participant_page(&id, Default::default()).await;

    assert_eq!(identities(&present), ["a", "c"]);
    assert_eq!(identities(&everyone), ["a", "b", "c"]);
    assert!(everyone[1]["leftAt"].is_string());
}

#[tokio::test]
async fn a_large_audience_is_shown_as_counters_and_paged() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let names: Vec<String> = (0..101).map(|n| format!("viewer-{n:03}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    join_all(&app, &id, &names).await;

    let stream = app.stream(&id).await;
    let state = app.state(&id).await;
    let (page, next) = app
        .participant_page(
            &id,
            ListParticipants {
                limit: Some(1000),
                ..Default::default()
            },
        )
        .await;

    assert_eq!(stream["participants"], json!([]));
    assert_eq!(stream["participantsTruncated"], true);
    assert_eq!(stream["audience"]["viewers"], 101);
    assert_eq!(state["participantsTruncated"], true);
    assert_eq!(page.as_array().unwrap().len(), 101);
    assert_eq!(next, None, "one page holds them all");
}

#[tokio::test]
async fn after_a_stop_nobody_is_present_and_everyone_left_when_it_stopped() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    join_all(&app, &id, &["a", "b"]).await;

    app.stopped(&id).await;
    let (present, _) = app.participant_page(&id, only_present()).await;
    let (everyone, _) = app.participant_page(&id, Default::default()).await;
    let stream = app.stream(&id).await;

    assert_eq!(present, json!([]));
    for participant in everyone.as_array().unwrap() {
        assert_eq!(participant["leftAt"], stream["stoppedAt"]);
    }
    assert_eq!(stream["audience"]["active"], 0);
    assert_eq!(stream["audience"]["totalJoined"], 2);
}

#[tokio::test]
async fn bad_participant_queries_are_400_and_unknown_streams_404() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;

    for query in [
        "?limit=0",
        "?limit=1001",
        "?limit=ten",
        "?cursor=nope",
        "?active=maybe",
    ] {
        assert_error(
            app.participants(&id, query).await,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        )
        .await;
    }
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_error(
        app.participants(&unknown, "").await,
        StatusCode::NOT_FOUND,
        "stream_not_found",
    )
    .await;
}

#[tokio::test]
async fn participant_events_carry_the_counters_after_the_change() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    app.joined(&id, json!({"participantName": "ada", "role": "host"}))
        .await;
    app.joined(&id, json!({"participantName": "bob"})).await;
    app.left(&id, "ada").await;

    let stream_id = orchestrator_domain::values::StreamId::parse(&id).unwrap();
    let log = app.events.read_after(stream_id, 1, 10).await.unwrap();

    let audiences: Vec<Value> = log.iter().map(|e| e.data["audience"].clone()).collect();
    assert_eq!(
        audiences,
        [
            json!({"active": 1, "hosts": 1, "viewers": 0, "connected": 0, "totalJoined": 1}),
            json!({"active": 2, "hosts": 1, "viewers": 1, "connected": 0, "totalJoined": 2}),
            json!({"active": 1, "hosts": 0, "viewers": 1, "connected": 0, "totalJoined": 2}),
        ]
    );
}

#[tokio::test]
async fn grpc_lists_participants_a_page_at_a_time_and_shows_the_counters() {
    use orchestrator_grpc::proto::{GetStreamStateRequest, ListParticipantsRequest};

    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    join_all(&app, &id, &["a", "b", "c"]).await;
    app.left(&id, "b").await;
    let mut client = app.grpc().await;
    let request = |active_only, cursor: String| ListParticipantsRequest {
        stream_id: id.clone(),
        active_only,
        limit: 2,
        cursor,
    };

    let first = client
        .list_participants(request(false, String::new()))
        .await
        .unwrap()
        .into_inner();
    let second = client
        .list_participants(request(false, first.next_cursor.clone()))
        .await
        .unwrap()
        .into_inner();
    let present = client
        .list_participants(request(true, String::new()))
        .await
        .unwrap()
        .into_inner();
    let state = client
        .get_stream_state(GetStreamStateRequest {
            stream_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();

    let names = |page: &orchestrator_grpc::proto::ListParticipantsResponse| -> Vec<String> {
        page.participants
            .iter()
            .map(|p| p.identity.clone())
            .collect()
    };
    assert_eq!(names(&first), ["a", "b"]);
    assert_eq!(
        (names(&second), second.next_cursor.as_str()),
        (vec!["c".to_owned()], "")
    );
    assert_eq!(names(&present), ["a", "c"]);
    let audience = state.audience.unwrap();
    assert_eq!((audience.active, audience.total_joined), (2, 3));
    let unknown = client
        .list_participants(ListParticipantsRequest {
            stream_id: uuid::Uuid::new_v4().to_string(),
            ..request(false, String::new())
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
}
