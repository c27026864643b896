use orchestrator_domain::{event::EventType, event::StreamEvent, values::StreamId};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::three_instances;

async fn event_log(app: &orchestrator_tests::TestApp, id: &str) -> Vec<StreamEvent> {
    app.events
        .read_after(StreamId::parse(id).unwrap(), 0, 10_000)
        .await
        .unwrap()
}

fn count(events: &[StreamEvent], kind: EventType) -> usize {
    events.iter().filter(|e| e.kind == kind).count()
}

fn assert_gapless(events: &[StreamEvent]) {
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_hundred_concurrent_joins_of_one_identity_across_instances_make_one_participant() {
    let deployment = three_instances().await;
    let id = deployment.instance(0).new_stream_id().await;

    let joins = (0..100).map(|n| {
        let app = deployment.instance(n);
        let id = id.clone();
        async move {
            app.join(&id, json!({"participantName": "ada"}))
                .await
                .status()
        }
    });
    let statuses = futures_util::future::join_all(joins).await;

    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    let stream = deployment.instance(1).stream(&id).await;
    assert_eq!(stream["participants"].as_array().unwrap().len(), 1);
    let log = event_log(deployment.instance(2), &id).await;
    assert_eq!(count(&log, EventType::ParticipantJoined), 1);
    assert_gapless(&log);
}

#[tokio::test]
async fn fifty_concurrent_patches_with_the_same_version_let_exactly_one_through() {
    let deployment = three_instances().await;
    let id = deployment.instance(0).new_stream_id().await;

    let patches = (0..50).map(|n| {
        let app = deployment.instance(n);
        let id = id.clone();
        async move {
            app.update_stream(&id, json!({"metadata": {"writer": n}, "version": 1}))
                .await
                .status()
        }
    });
    let statuses = futures_util::future::join_all(patches).await;

    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((ok, conflicts), (1, 49), "{statuses:?}");
    let stream = deployment.instance(2).stream(&id).await;
    assert_eq!(stream["version"], 2);
    assert_gapless(&event_log(deployment.instance(1), &id).await);
}

#[tokio::test]
async fn concurrent_stop_and_joins_end_in_a_consistent_state_and_log() {
    let deployment = three_instances().await;
    let id = deployment.instance(0).new_stream_id().await;

    let joins = (0..20).map(|n| {
        let app = deployment.instance(n + 1);
        let id = id.clone();
        async move {
            let name = format!("p{n}");
            let status = app
                .join(&id, json!({ "participantName": name }))
                .await
                .status();
            (name, status)
        }
    });
    let stop = async {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        deployment.instance(0).stop_stream(&id).await.status()
    };
    let (joined, stop_status) = tokio::join!(futures_util::future::join_all(joins), stop);

    assert_eq!(stop_status, StatusCode::OK);
    for (_, status) in &joined {
        assert!(
            *status == StatusCode::OK || *status == StatusCode::CONFLICT,
            "a join either got in before the stop or was refused: {status}"
        );
    }
    let stream: Value = deployment.instance(2).stream(&id).await;
    assert_eq!(stream["status"], "stopped");
    let participants = stream["participants"].as_array().unwrap();
    assert!(
        participants.iter().all(|p| p["leftAt"].is_string()),
        "nobody is left inside"
    );
    let admitted: Vec<&String> = joined
        .iter()
        .filter(|(_, s)| *s == StatusCode::OK)
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        participants.len(),
        admitted.len(),
        "exactly the admitted joins are recorded"
    );

    let log = event_log(deployment.instance(1), &id).await;
    assert_gapless(&log);
    assert_eq!(log.last().unwrap().kind, EventType::StreamStopped);
    assert_eq!(count(&log, EventType::StreamStopped), 1);
    assert_eq!(count(&log, EventType::ParticipantJoined), admitted.len());
    let stopping_at = log
        .iter()
        .position(|e| e.kind == EventType::StreamUpdated && e.data["status"] == "stopping")
        .expect("a stopping event");
    assert!(
        log[stopping_at..]
            .iter()
            .all(|e| e.kind != EventType::ParticipantJoined),
        "no join is recorded after the stop began"
    );
}
