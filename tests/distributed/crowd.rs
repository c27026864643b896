//! A crowd joining one stream through every instance at once: nothing acknowledged is lost, the
//! counters match the records, and a dashboard on one instance sees every participant event
//! exactly once, in seq order.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use orchestrator_tests::WsClient;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{three_instances, three_instances_on_a_cluster, Deployment};

const CROWD: usize = 300;

async fn recv(ws: &mut WsClient) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a frame within 20 s")
            .expect("the connection is open")
            .expect("a valid frame");
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// Subscribes from the stream's current seq and returns it.
async fn subscribe(ws: &mut WsClient, id: &str) -> u64 {
    assert_eq!(recv(ws).await["type"], "connected");
    let message = json!({"type": "subscribe", "streamId": id});
    ws.send(Message::text(message.to_string())).await.unwrap();
    let subscribed = recv(ws).await;
    assert_eq!(subscribed["type"], "subscribed", "{subscribed}");
    subscribed["afterSeq"].as_u64().unwrap()
}

/// Joins `CROWD` viewers and makes every third of them leave again, round robin over the
/// instances, all at once. Returns how many are present at the end.
async fn crowd_through_every_instance(deployment: &Deployment, id: &str) -> usize {
    let requests = (0..CROWD).map(|n| async move {
        let app = deployment.instance(n);
        let name = format!("viewer-{n}");
        app.joined(id, json!({ "participantName": name })).await;
        if n % 3 == 0 {
            deployment.instance(n + 1).left(id, &name).await;
        }
    });
    futures_util::future::join_all(requests).await;
    CROWD - CROWD.div_ceil(3)
}

async fn a_crowd_joining_through_every_instance_is_seen_once_each_in_order(deployment: Deployment) {
    let id = deployment.instance(0).new_stream_id().await;
    let mut dashboard = deployment.instance(0).ws("/ws").await;
    let from = subscribe(&mut dashboard, &id).await;

    let present = crowd_through_every_instance(&deployment, &id).await;

    let expected = CROWD + CROWD.div_ceil(3);
    let mut seen = Vec::new();
    while seen.len() < expected {
        let message = recv(&mut dashboard).await;
        if message["type"] == "event" {
            seen.push(message["event"].clone());
        }
    }
    let seqs: Vec<u64> = seen.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    let want: Vec<u64> = (from + 1..=from + expected as u64).collect();
    assert_eq!(seqs, want, "every participant event once, in seq order");
    let last = &seen[expected - 1]["data"]["audience"];
    assert_eq!(last["active"], present);
    assert_eq!(last["totalJoined"], CROWD);

    let state = deployment.instance(2).state(&id).await;
    assert_eq!(state["audience"]["active"], present);
    assert_eq!(state["seq"], from + expected as u64);
    let mut names = HashSet::new();
    let mut next = Some(format!("/streams/{id}/participants?active=true&limit=64"));
    while let Some(path) = next.take() {
        let app = deployment.instance(names.len());
        let response = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        next = response.headers().get("link").map(|link| {
            let link = link.to_str().unwrap();
            link[link.find('<').unwrap() + 1..link.find('>').unwrap()].to_owned()
        });
        let page: Vec<Value> = response.json().await.unwrap();
        names.extend(
            page.iter()
                .map(|p| p["identity"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(names.len(), present, "the records agree with the counters");
}

#[tokio::test]
async fn a_crowd_on_three_instances_is_recorded_and_delivered_exactly_once() {
    a_crowd_joining_through_every_instance_is_seen_once_each_in_order(three_instances().await)
        .await;
}

#[tokio::test]
async fn the_same_holds_on_a_redis_cluster() {
    a_crowd_joining_through_every_instance_is_seen_once_each_in_order(
        three_instances_on_a_cluster().await,
    )
    .await;
}
