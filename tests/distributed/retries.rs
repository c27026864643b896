use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::three_instances;

#[tokio::test]
async fn concurrent_duplicates_of_one_keyed_create_on_different_instances_create_one_stream() {
    let deployment = three_instances().await;
    let room = format!("keyed-{}", uuid::Uuid::new_v4().simple());

    let attempts = (0..12).map(|n| {
        let app = deployment.instance(n);
        let room = room.clone();
        async move {
            let response = app
                .client
                .post(format!("{}/streams", app.base))
                .header("Idempotency-Key", "create-once")
                .json(&json!({ "roomName": room }))
                .send()
                .await
                .unwrap();
            let replayed = response.headers().contains_key("idempotent-replayed");
            (response.status(), replayed)
        }
    });
    let outcomes = futures_util::future::join_all(attempts).await;

    let executed = outcomes
        .iter()
        .filter(|(status, replayed)| *status == StatusCode::CREATED && !replayed)
        .count();
    assert_eq!(executed, 1, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|(status, replayed)| {
            (*status == StatusCode::CREATED) || (*status == StatusCode::CONFLICT && !replayed)
        }),
        "the others were replays or told the first is still running: {outcomes:?}"
    );
    let mut streams = Vec::new();
    for app in &deployment.instances {
        let listed = app.streams().await;
        streams.push(
            listed
                .iter()
                .filter(|s| s["roomName"] == room.as_str())
                .count(),
        );
    }
    assert_eq!(streams, [1, 1, 1], "every instance sees the one stream");

    let later = deployment
        .instance(2)
        .client
        .post(format!("{}/streams", deployment.instance(2).base))
        .header("Idempotency-Key", "create-once")
        .json(&json!({ "roomName": room }))
        .send()
        .await
        .unwrap();
    assert_eq!(later.status(), StatusCode::CREATED);
    assert_eq!(later.headers()["idempotent-replayed"], "true");
}

#[tokio::test]
async fn a_webhook_redelivered_to_another_instance_is_still_a_duplicate() {
    let deployment = three_instances().await;
    let id = deployment.instance(0).new_stream_id().await;
    let body = json!({
        "event": "participant_joined", "id": "EV_shared", "createdAt": "100",
        "room": {"name": format!("room-{id}")}, "participant": {"sid": "PA_1", "identity": "ada"}
    })
    .to_string();
    let secret = livekit_emulator::DEV_API_SECRET;

    let first: Value = deployment
        .instance(1)
        .post_webhook(&body, secret)
        .await
        .json()
        .await
        .unwrap();
    let again: Value = deployment
        .instance(2)
        .post_webhook(&body, secret)
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(first["status"], "applied");
    assert_eq!(again["status"], "duplicate");
}

#[tokio::test]
async fn a_replayed_join_gets_its_token_back_but_redis_never_holds_it_in_clear() {
    let deployment = three_instances().await;
    let id = deployment.instance(0).new_stream_id().await;
    let join = |n: usize| {
        let app = deployment.instance(n);
        app.client
            .post(format!("{}/streams/{id}/join", app.base))
            .header("Idempotency-Key", "join-once")
            .json(&json!({ "participantName": "ada", "role": "host" }))
            .send()
    };

    let first: Value = join(0).await.unwrap().json().await.unwrap();
    let replay = join(1).await.unwrap();

    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let replayed: Value = replay.json().await.unwrap();
    let token = first["token"].as_str().unwrap();
    assert_eq!(replayed["token"], token);
    let port: u16 = deployment
        .redis_url
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let pattern = format!("{}*idem*", deployment.prefix);
    let keys = redis_harness::redis_cli(port, &["--scan", "--pattern", &pattern]);
    let key = keys.lines().next().expect("the answer is kept in Redis");
    let raw = redis_harness::redis_cli(port, &["HGET", key, "answer"]);
    let signature = token.rsplit('.').next().unwrap();
    assert!(!raw.is_empty());
    assert!(
        !raw.contains(signature),
        "the bearer token is sealed at rest"
    );
    assert!(!raw.contains("ada"), "nothing of the answer is readable");
}
