//! The typed client behind a load balancer: when the instance serving its subscriptions shuts
//! down (closing them with "resume from seq N"), they reconnect through the balancer to
//! another instance on the same Redis and resume there, with no event lost or repeated, on
//! the WebSocket and on gRPC.

use std::time::Duration;

use futures_util::StreamExt;
use orchestrator_client::{Client, SubscribeOptions, Update};
use orchestrator_tests::proxy::Proxy;
use serde_json::json;
use tokio::sync::mpsc;

use crate::support::three_instances;

/// Follows `subscription` in the background; each seq delivered goes to the receiver, and
/// the task ends with the reconnect count when the subscription ends.
fn follow<E: Send + 'static>(
    subscription: orchestrator_client::Subscription<E>,
    seq_of: fn(&E) -> u64,
) -> (mpsc::UnboundedReceiver<u64>, tokio::task::JoinHandle<u64>) {
    let (seqs, received) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut subscription = subscription;
        while let Some(update) = subscription.next().await {
            if let Update::Event(event) = update.unwrap() {
                let _ = seqs.send(seq_of(&event));
            }
        }
        subscription.reconnects()
    });
    (received, task)
}

async fn drain(
    mut seqs: mpsc::UnboundedReceiver<u64>,
    task: tokio::task::JoinHandle<u64>,
) -> (Vec<u64>, u64) {
    let reconnects = tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("the subscription ends after the stop")
        .unwrap();
    let mut all = Vec::new();
    while let Ok(seq) = seqs.try_recv() {
        all.push(seq);
    }
    (all, reconnects)
}

#[tokio::test]
async fn subscriptions_resume_on_another_instance_when_theirs_shuts_down() {
    let mut deployment = three_instances().await;
    let (leaving, staying) = (&deployment.instances[0], &deployment.instances[1]);
    let http = Proxy::start(leaving.addr).await;
    let grpc = Proxy::start(leaving.grpc_addr).await;
    let client = Client::builder(&http.url())
        .grpc_url(grpc.url())
        .build()
        .unwrap();
    let id = staying.new_stream_id().await;
    let (mut ws_seqs, ws) = follow(
        client.subscribe_with(&id, SubscribeOptions::after(0)),
        |e| e.seq,
    );
    let (mut grpc_seqs, on_grpc) = follow(
        client.subscribe_grpc(&id, SubscribeOptions::after(0)),
        |e| e.seq,
    );
    let (first_ws, first_grpc) = (ws_seqs.recv().await, grpc_seqs.recv().await);
    assert_eq!(
        (first_ws, first_grpc),
        (Some(1), Some(1)),
        "both follow through the first instance"
    );

    for n in 0..5 {
        staying.updated(&id, json!({"metadata": {"n": n}})).await;
    }
    let (staying_addr, staying_grpc) = (staying.addr, staying.grpc_addr);
    http.switch_to(staying_addr);
    grpc.switch_to(staying_grpc);
    deployment.instances[0].begin_shutdown();
    let staying = &deployment.instances[1];
    for n in 5..15 {
        staying.updated(&id, json!({"metadata": {"n": n}})).await;
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    staying.stopped(&id).await;
    let last = staying.api.stream_state(&id).await.unwrap().seq;

    let expected: Vec<u64> = (2..=last).collect();
    for (name, (seqs, reconnects)) in [
        ("WebSocket", drain(ws_seqs, ws).await),
        ("gRPC", drain(grpc_seqs, on_grpc).await),
    ] {
        assert_eq!(seqs, expected, "{name}: every event once, in order");
        assert!(reconnects >= 1, "{name}: moved to another instance");
    }
}
