//! Redis restarted under load: during the outage every request that needs it is a 503 with
//! `Retry-After`, the service recovers by itself within 5 s of Redis' return, and nothing
//! acknowledged is lost (Redis runs with appendonly). A Redis that comes back empty makes
//! subscribers resync instead of silently waiting on positions that no longer exist.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use orchestrator_grpc::proto::SubscribeRequest;
use orchestrator_tests::audit::audit;
use orchestrator_tests::history::History;
use orchestrator_tests::GrpcClient;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::cluster::{client, create_stream, eventually, get_stream, Cluster};
use crate::followers::{self, Target};
use crate::load::Writers;

/// How long Redis stays down.
const OUTAGE: Duration = Duration::from_secs(3);
/// The promise: serving again within this long after Redis is back.
const RECOVERY: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_restart_under_load_is_a_clean_503_then_a_full_recovery_losing_nothing() {
    let mut cluster = Cluster::start(2, redis_harness::owned_persistent_server(), &[]);
    let client = client();
    let bases: Vec<String> = cluster.instances.iter().map(|i| i.base()).collect();
    let id = create_stream(&client, &bases[0], json!({"metadata": {}})).await;
    let history = History::new();
    let target = Target::default();
    let ws_urls: Vec<String> = cluster.instances.iter().map(|i| i.ws_url()).collect();
    let subscriber = tokio::spawn(followers::websocket(
        "ws".into(),
        id.clone(),
        ws_urls,
        history.clone(),
        target.clone(),
    ));
    let writers = Writers::new(client.clone(), bases.clone(), history.clone());
    let load: Vec<_> = (0..4)
        .map(|w| {
            tokio::spawn(writers.clone().write(
                id.clone(),
                format!("w{w}"),
                80,
                w,
                Duration::from_millis(40),
            ))
        })
        .collect();
    assert!(
        eventually(Duration::from_secs(30), || async {
            history.acknowledged_count() >= 40
        })
        .await
    );

    tokio::task::block_in_place(|| cluster.redis.kill());
    let during = probe(&client, &bases[0], &id).await;
    tokio::time::sleep(OUTAGE).await;
    tokio::task::block_in_place(|| cluster.redis.restart());
    let back = Instant::now();
    let recovered = eventually(Duration::from_secs(15), || async {
        let ready = client
            .get(format!("{}/health/ready", bases[0]))
            .send()
            .await;
        ready.is_ok_and(|r| r.status().is_success())
            && client
                .patch(format!("{}/streams/{id}", bases[1]))
                .json(&json!({"metadata": {"probe": true}}))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
    })
    .await;
    let recovery = back.elapsed();
    for writer in load {
        writer.await.unwrap();
    }
    target.set(
        get_stream(&client, &bases[1], &id).await["seq"]
            .as_u64()
            .unwrap(),
    );
    subscriber.await.unwrap();
    // The probe PATCHes were not recorded: the audit's log and final state include them, the
    // history's acknowledgements are the writers'.
    let checked = audit(&client, &bases[1]).await;
    let verdict = history.check(&checked.log, &checked.finals);
    let outcome = writers.outcome.lock().await;
    eprintln!(
        "redis restart: {} PATCHes sent, {} acknowledged, refused {:?} ({} 503s without \
         Retry-After), {} unanswered; outage {OUTAGE:?}; recovered {recovery:?} after Redis \
         returned; {verdict}",
        outcome.sent,
        outcome.acknowledged,
        outcome.refused,
        outcome.unavailable_without_retry_after,
        outcome.unanswered
    );
    assert_eq!(during.0, 503, "a read during the outage: {during:?}");
    assert!(during.1, "the 503 says when to retry (Retry-After)");
    assert!(
        outcome.refused.keys().all(|&status| status == 503),
        "only 503s: {:?}",
        outcome.refused
    );
    assert_eq!(outcome.unavailable_without_retry_after, 0);
    assert!(
        recovered && recovery <= RECOVERY,
        "recovered within {RECOVERY:?}: took {recovery:?}"
    );
    assert!(checked.violations.is_empty(), "{:#?}", checked.violations);
    verdict.assert_clean();
}

/// A read during the outage: its status and whether it carried `Retry-After`.
async fn probe(client: &reqwest::Client, base: &str, id: &str) -> (u16, bool) {
    let response = client
        .get(format!("{base}/streams/{id}"))
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.headers().contains_key("retry-after"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_that_lost_its_data_makes_subscribers_resync_instead_of_waiting_in_silence() {
    let mut cluster = Cluster::start(1, redis_harness::owned_persistent_server(), &[]);
    let client = client();
    let instance = &cluster.instances[0];
    let (base, ws_url, grpc_url) = (instance.base(), instance.ws_url(), instance.grpc_url());
    let id = create_stream(&client, &base, json!({})).await;
    let (mut live, _) = tokio_tungstenite::connect_async(ws_url.as_str())
        .await
        .unwrap();
    let subscribe = json!({"type": "subscribe", "streamId": id, "afterSeq": 0});
    live.send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
    let subscribed = until_type(&mut live, "subscribed", Duration::from_secs(5))
        .await
        .unwrap();
    let (epoch, seq) = (
        subscribed["epoch"].clone(),
        subscribed["seq"].as_u64().unwrap(),
    );

    tokio::task::block_in_place(|| cluster.redis.restart_empty());
    let told = until_type(&mut live, "resync_required", Duration::from_secs(15)).await;

    let resumed = resume(&ws_url, &id, seq, &epoch).await;
    let channel = tonic::transport::Endpoint::from_shared(grpc_url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let grpc = GrpcClient::new(channel)
        .subscribe(SubscribeRequest {
            stream_id: id.clone(),
            after_seq: Some(seq),
            epoch: epoch.as_str().unwrap_or_default().to_owned(),
            ..SubscribeRequest::default()
        })
        .await;
    eprintln!("redis data loss: live subscriber told {told:?}; resubscribe answered {resumed}");

    assert!(
        matches!(resumed["type"].as_str(), Some("resync_required"))
            || resumed["code"] == "stream_not_found",
        "resuming a position of the lost data is refused: {resumed}"
    );
    let Err(status) = grpc else {
        panic!("gRPC refuses to resume a position of the lost data");
    };
    assert!(
        matches!(
            status.code(),
            tonic::Code::FailedPrecondition | tonic::Code::NotFound
        ),
        "{status:?}"
    );
    assert!(
        told.is_some(),
        "a live subscriber of a Redis that lost its data is told to resync (resync_required), \
         not left waiting in silence for events that will never come"
    );
}

/// Reads messages until one of `kind` arrives (returned) or `limit` passes.
async fn until_type(
    socket: &mut orchestrator_tests::WsClient,
    kind: &str,
    limit: Duration,
) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .ok()??
            .ok()?;
        if let Message::Text(text) = frame {
            let message: Value = serde_json::from_str(&text).unwrap_or_default();
            if message["type"] == kind {
                return Some(message);
            }
        }
    }
}

/// Subscribes from (`seq`, `epoch`) on a new connection, again while the store is still
/// reconnecting; returns the first answer that is not `store_unavailable`.
async fn resume(ws_url: &str, id: &str, seq: u64, epoch: &Value) -> Value {
    let request = json!({"type": "subscribe", "streamId": id, "afterSeq": seq, "epoch": epoch});
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (mut socket, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
        socket
            .send(Message::text(request.to_string()))
            .await
            .unwrap();
        let answer = first_answer(&mut socket).await;
        if answer["code"] != "store_unavailable" || tokio::time::Instant::now() >= deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The first answer to a request (skipping `connected`).
async fn first_answer(socket: &mut orchestrator_tests::WsClient) -> Value {
    loop {
        let Ok(Some(Ok(frame))) =
            tokio::time::timeout(Duration::from_secs(10), socket.next()).await
        else {
            return Value::Null;
        };
        if let Message::Text(text) = frame {
            let message: Value = serde_json::from_str(&text).unwrap_or_default();
            if message["type"] != "connected" {
                return message;
            }
        }
    }
}
