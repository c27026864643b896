use std::time::Duration;

use futures_util::StreamExt;
use orchestrator_domain::follow::follow;
use orchestrator_domain::{event::EventType, event::StreamEvent, values::StreamId};
use serde_json::json;

use crate::support::{three_instances, three_instances_on_a_cluster, Deployment};

/// Writes a whole stream life through instances 1 and 2 (alternating), while instance 0 only
/// watches; returns the stream id and how many events the writes made.
async fn write_a_life_through_the_other_instances(deployment: &Deployment) -> (String, u64) {
    let writer = |n: usize| deployment.instance(1 + n % 2);
    let id = writer(0).new_stream_id().await;
    let mut events = 1;
    for n in 0..6 {
        writer(n)
            .joined(&id, json!({ "participantName": format!("p{n}") }))
            .await;
        events += 1;
    }
    for n in 0..3 {
        writer(n).left(&id, &format!("p{n}")).await;
        events += 1;
    }
    writer(1)
        .updated(&id, json!({"metadata": {"title": "live"}}))
        .await;
    events += 1;
    writer(0).stopped(&id).await;
    events += 2; // stopping, stopped
    (id, events)
}

async fn collect_until_stopped(
    events: impl futures_util::Stream<Item = StreamEvent> + Unpin,
    stream: StreamId,
) -> Vec<StreamEvent> {
    let mut events = events;
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(event) = events.next().await {
            if event.stream_id != stream {
                continue;
            }
            let stopped = event.kind == EventType::StreamStopped;
            seen.push(event);
            if stopped {
                break;
            }
        }
    })
    .await
    .expect("the whole life arrives within 20 s");
    seen
}

fn assert_gapless(events: &[StreamEvent], expected: u64) {
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=expected).collect::<Vec<_>>(),
        "in order, no gap, no duplicate"
    );
}

async fn a_watcher_on_one_instance_sees_every_write_made_on_the_others(deployment: Deployment) {
    let watcher = deployment.instance(0);
    let live = watcher.events.subscribe();

    let (id, expected) = write_a_life_through_the_other_instances(&deployment).await;
    let stream = StreamId::parse(&id).unwrap();

    // The raw live feed of the watcher's one Redis subscription…
    let live_events = collect_until_stopped(live, stream).await;
    assert_gapless(&live_events, expected);
    assert_eq!(live_events[0].kind, EventType::StreamCreated);
    // …and a follower started afterwards, from seq 0, replays the same history from the log.
    let followed = follow(watcher.events.clone(), stream, 0).map(|item| item.expect("followable"));
    let replayed = collect_until_stopped(Box::pin(followed), stream).await;
    assert_eq!(
        replayed, live_events,
        "the log and the live feed agree exactly"
    );
    let writers: std::collections::HashSet<&str> =
        live_events.iter().map(|e| e.instance_id.as_str()).collect();
    assert_eq!(
        writers.len(),
        2,
        "the writes came from the two other instances"
    );
}

#[tokio::test]
async fn a_watcher_sees_other_instances_writes_in_order_and_gapless() {
    a_watcher_on_one_instance_sees_every_write_made_on_the_others(three_instances().await).await;
}

#[tokio::test]
async fn the_same_holds_on_a_redis_cluster() {
    a_watcher_on_one_instance_sees_every_write_made_on_the_others(
        three_instances_on_a_cluster().await,
    )
    .await;
}

#[tokio::test]
async fn a_follower_resuming_mid_life_gets_exactly_the_rest() {
    let deployment = three_instances().await;
    let (id, expected) = write_a_life_through_the_other_instances(&deployment).await;
    let stream = StreamId::parse(&id).unwrap();

    let followed = follow(deployment.instance(0).events.clone(), stream, 4)
        .map(|item| item.expect("followable"));
    let rest = collect_until_stopped(Box::pin(followed), stream).await;

    let seqs: Vec<u64> = rest.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (5..=expected).collect::<Vec<_>>());
}
