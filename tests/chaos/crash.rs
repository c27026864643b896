//! kill -9 of one of three instances under load: no acknowledged write is lost, and the
//! WebSocket and gRPC subscribers that were on it reconnect to another instance, resume from
//! their last seq and see no gap and no duplicate.

use std::time::Duration;

use orchestrator_tests::audit::audit;
use orchestrator_tests::history::History;
use serde_json::json;

use crate::cluster::{client, create_stream, eventually, get_stream, Cluster};
use crate::followers::{self, Target};
use crate::load::Writers;

const STREAMS: usize = 3;
const WRITERS_PER_STREAM: usize = 2;
const WRITES: usize = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crashed_instance_loses_no_acknowledged_write_and_its_subscribers_resume_elsewhere() {
    let mut cluster = Cluster::start(3, redis_harness::owned_persistent_server(), &[]);
    let client = client();
    let bases: Vec<String> = cluster.instances.iter().map(|i| i.base()).collect();
    let mut ids = Vec::new();
    for n in 0..STREAMS {
        ids.push(create_stream(&client, &bases[1], json!({"metadata": {"n": n}})).await);
    }
    let history = History::new();
    // Every subscriber starts on instance 0, the one that crashes, and moves on from there.
    let ws_urls: Vec<String> = cluster.instances.iter().map(|i| i.ws_url()).collect();
    let grpc_urls: Vec<String> = cluster.instances.iter().map(|i| i.grpc_url()).collect();
    let mut subscribers = Vec::new();
    let mut targets = Vec::new();
    for id in &ids {
        let target = Target::default();
        targets.push((id.clone(), target.clone()));
        subscribers.push(tokio::spawn(followers::websocket(
            format!("ws-{id}"),
            id.clone(),
            ws_urls.clone(),
            history.clone(),
            target.clone(),
        )));
        subscribers.push(tokio::spawn(followers::grpc(
            format!("grpc-{id}"),
            id.clone(),
            grpc_urls.clone(),
            history.clone(),
            target,
        )));
    }

    let writers = Writers::new(client.clone(), bases.clone(), history.clone());
    let mut load = Vec::new();
    for (s, id) in ids.iter().enumerate() {
        for w in 0..WRITERS_PER_STREAM {
            load.push(tokio::spawn(writers.clone().write(
                id.clone(),
                format!("w{w}"),
                WRITES,
                s + w,
                Duration::from_millis(10),
            )));
        }
    }
    let third = STREAMS * WRITERS_PER_STREAM * WRITES / 3;
    assert!(
        eventually(Duration::from_secs(60), || async {
            history.acknowledged_count() >= third
        })
        .await,
        "the load got going"
    );
    cluster.instances[0].kill9();
    for writer in load {
        writer.await.unwrap();
    }

    let survivor = &bases[1];
    for (id, target) in &targets {
        target.set(
            get_stream(&client, survivor, id).await["seq"]
                .as_u64()
                .unwrap(),
        );
    }
    let mut connections = Vec::new();
    for subscriber in subscribers {
        connections.push(subscriber.await.unwrap().connections);
    }
    let checked = audit(&client, survivor).await;
    let verdict = history.check(&checked.log, &checked.finals);
    let outcome = writers.outcome.lock().await;
    eprintln!(
        "crash: {} PATCHes sent, {} acknowledged, {} unanswered, refused {:?}; 1 instance \
         killed (-9); subscribers' connections {connections:?}; {verdict}",
        outcome.sent, outcome.acknowledged, outcome.unanswered, outcome.refused
    );
    assert!(checked.violations.is_empty(), "{:#?}", checked.violations);
    verdict.assert_clean();
    assert_eq!(
        verdict.acknowledged, outcome.acknowledged,
        "every acknowledged write was recorded"
    );
    assert!(
        connections.iter().all(|&c| c >= 2),
        "every subscriber reconnected after the crash: {connections:?}"
    );
}
