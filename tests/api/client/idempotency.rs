//! Every mutation carries an idempotency key; the same call sent again with its key executes
//! once and its answer says it was replayed.

use orchestrator_client::{CreateStream, Join};
use orchestrator_tests::spawn_app;

#[tokio::test]
async fn a_mutation_sent_twice_with_its_key_executes_once_and_the_replay_says_so() {
    let app = spawn_app().await;
    let request = CreateStream::named("encore");

    let first = app
        .api
        .create_stream(&request)
        .idempotency_key("create-encore-1")
        .answer()
        .await
        .unwrap();
    let again = app
        .api
        .create_stream(&request)
        .idempotency_key("create-encore-1")
        .answer()
        .await
        .unwrap();

    assert!(!first.replayed);
    assert!(again.replayed, "answered from the first call");
    assert_eq!(again.value.id, first.value.id);
    assert_eq!(again.idempotency_key.as_deref(), Some("create-encore-1"));
    assert_eq!(app.streams().await.len(), 1, "executed once");
}

#[tokio::test]
async fn every_mutation_carries_a_fresh_key_and_reads_none() {
    let app = spawn_app().await;

    let one = app
        .api
        .create_stream(&CreateStream::default())
        .answer()
        .await
        .unwrap();
    let two = app
        .api
        .create_stream(&CreateStream::default())
        .answer()
        .await
        .unwrap();
    let join = app
        .api
        .join(&one.value.id, &Join::viewer("ada"))
        .answer()
        .await
        .unwrap();
    let read = app.api.stream(&one.value.id).answer().await.unwrap();

    let keys = [&one, &two].map(|answer| answer.idempotency_key.clone().expect("a key"));
    assert_ne!(keys[0], keys[1], "one key per logical call");
    for key in keys.iter().chain(join.idempotency_key.iter()) {
        let uuid = uuid::Uuid::parse_str(key).expect("a UUID");
        assert_eq!(uuid.get_version_num(), 4);
    }
    assert!(!one.replayed && !two.replayed, "two streams, not a replay");
    assert_eq!(read.idempotency_key, None);
    assert_eq!(app.streams().await.len(), 2);
}

#[tokio::test]
async fn a_join_replayed_by_its_key_hands_back_the_same_token() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;

    let first = app
        .api
        .join(&id, &Join::host("ada"))
        .idempotency_key("join-ada")
        .await
        .unwrap();
    let again = app
        .api
        .join(&id, &Join::host("ada"))
        .idempotency_key("join-ada")
        .await
        .unwrap();
    let other_body = app
        .api
        .join(&id, &Join::viewer("ada"))
        .idempotency_key("join-ada")
        .await
        .unwrap_err();

    assert_eq!(again.token, first.token);
    assert_eq!(other_body.code(), Some("idempotency_key_reused"));
    assert_eq!(app.state(&id).await["seq"], 2, "created, one join");
}
