//! The [`IdempotencyStore`](orchestrator_domain::coordination::IdempotencyStore) contract.

/// Holds a store to the `IdempotencyStore` contract: `idempotency_store_contract!(<expression yielding (store, guard)>)`.
#[macro_export]
macro_rules! idempotency_store_contract {
    ($idempotency:expr) => {
        mod idempotency {
            // The store-making expression may name helpers of the invoking file.
            #[allow(unused_imports)]
            use super::*;
            use std::time::Duration;

            use orchestrator_domain::coordination::{
                IdempotencyBegin, IdempotencyStore, LeaseStore, StoredAnswer, WebhookDedupe,
            };

            /// Long enough that nothing expires during a test.
            const LONG: Duration = Duration::from_secs(60);
            /// Short enough to wait for.
            const SHORT: Duration = Duration::from_millis(200);
            /// Waiting this long after a [`SHORT`] ttl, it has certainly expired.
            const PAST_SHORT: Duration = Duration::from_millis(400);
            const TEST_BUDGET: Duration = Duration::from_secs(20);
            const CONCURRENT_CALLERS: usize = 20;

            async fn bounded(test: impl std::future::Future<Output = ()>) {
                tokio::time::timeout(TEST_BUDGET, test)
                    .await
                    .expect("the test exceeded its time budget");
            }

            fn json_response() -> StoredAnswer {
                StoredAnswer(br#"201 {"id":"s-1","tags":[]}"#.to_vec())
            }

            #[tokio::test]
            async fn a_new_key_starts_and_the_same_request_meanwhile_is_in_progress() {
                bounded(async {
                    let (store, _guard) = $idempotency;

                    let first = store.begin("key-1", "fp-a", LONG).await.unwrap();
                    let retry = store.begin("key-1", "fp-a", LONG).await.unwrap();

                    assert_eq!(first, IdempotencyBegin::Started);
                    assert_eq!(retry, IdempotencyBegin::InProgress);
                })
                .await;
            }

            #[tokio::test]
            async fn a_key_reused_for_another_request_is_a_mismatch_in_every_state() {
                bounded(async {
                    let (store, _guard) = $idempotency;
                    store.begin("key-1", "fp-a", LONG).await.unwrap();

                    let while_in_progress = store.begin("key-1", "fp-b", LONG).await.unwrap();
                    store
                        .complete("key-1", "fp-a", json_response(), LONG)
                        .await
                        .unwrap();
                    let once_completed = store.begin("key-1", "fp-b", LONG).await.unwrap();

                    assert_eq!(while_in_progress, IdempotencyBegin::Mismatch);
                    assert_eq!(once_completed, IdempotencyBegin::Mismatch);
                })
                .await;
            }

            #[tokio::test]
            async fn a_completed_request_replays_its_response() {
                bounded(async {
                    let (store, _guard) = $idempotency;
                    store.begin("key-1", "fp-a", LONG).await.unwrap();

                    store
                        .complete("key-1", "fp-a", json_response(), LONG)
                        .await
                        .unwrap();
                    let replay = store.begin("key-1", "fp-a", LONG).await.unwrap();
                    let second_replay = store.begin("key-1", "fp-a", LONG).await.unwrap();

                    assert_eq!(replay, IdempotencyBegin::Completed(json_response()));
                    assert_eq!(second_replay, replay);
                })
                .await;
            }

            #[tokio::test]
            async fn answers_replay_byte_for_byte_whatever_their_bytes() {
                bounded(async {
                    let (store, _guard) = $idempotency;
                    let responses = [
                        StoredAnswer(Vec::new()),
                        StoredAnswer(vec![0, 0xff, 0xfe, b'{', b'}', 0x80, b'\n']),
                        StoredAnswer(b"[]".to_vec()),
                    ];
                    for (i, response) in responses.into_iter().enumerate() {
                        let key = format!("key-{i}");
                        store.begin(&key, "fp", LONG).await.unwrap();

                        store
                            .complete(&key, "fp", response.clone(), LONG)
                            .await
                            .unwrap();

                        assert_eq!(
                            store.begin(&key, "fp", LONG).await.unwrap(),
                            IdempotencyBegin::Completed(response)
                        );
                    }
                })
                .await;
            }

            #[tokio::test]
            async fn completing_stores_nothing_unless_the_same_request_is_in_progress() {
                bounded(async {
                    let (store, _guard) = $idempotency;

                    store
                        .complete("unknown", "fp-a", json_response(), LONG)
                        .await
                        .unwrap();
                    store.begin("key-1", "fp-a", LONG).await.unwrap();
                    store
                        .complete("key-1", "fp-b", json_response(), LONG)
                        .await
                        .unwrap();

                    assert_eq!(
                        store.begin("unknown", "fp-a", LONG).await.unwrap(),
                        IdempotencyBegin::Started
                    );
                    assert_eq!(
                        store.begin("key-1", "fp-a", LONG).await.unwrap(),
                        IdempotencyBegin::InProgress
                    );
                })
                .await;
            }

            #[tokio::test]
            async fn the_first_completion_wins() {
                bounded(async {
                    let (store, _guard) = $idempotency;
                    store.begin("key-1", "fp-a", LONG).await.unwrap();
                    let later = StoredAnswer(b"late".to_vec());

                    store
                        .complete("key-1", "fp-a", json_response(), LONG)
                        .await
                        .unwrap();
                    store.complete("key-1", "fp-a", later, LONG).await.unwrap();

                    assert_eq!(
                        store.begin("key-1", "fp-a", LONG).await.unwrap(),
                        IdempotencyBegin::Completed(json_response())
                    );
                })
                .await;
            }

            #[tokio::test]
            async fn an_abandoned_request_starts_again() {
                bounded(async {
                    let (store, _guard) = $idempotency;
                    store.begin("key-1", "fp-a", LONG).await.unwrap();

                    store.abandon("key-1", "fp-a").await.unwrap();
                    let retry = store.begin("key-1", "fp-a", LONG).await.unwrap();

                    assert_eq!(retry, IdempotencyBegin::Started);
                })
                .await;
            }

            #[tokio::test]
            async fn abandoning_leaves_other_requests_and_completed_keys_alone() {
                bounded(async {
                    let (store, _guard) = $idempotency;
                    store.begin("in-progress", "fp-a", LONG).await.unwrap();
                    store.begin("completed", "fp-a", LONG).await.unwrap();
                    store
                        .complete("completed", "fp-a", json_response(), LONG)
                        .await
                        .unwrap();

                    store.abandon("in-progress", "fp-b").await.unwrap();
                    store.abandon("completed", "fp-a").await.unwrap();

                    assert_eq!(
                        store.begin("in-progress", "fp-a", LONG).await.unwrap(),
                        IdempotencyBegin::InProgress
                    );
                    assert_eq!(
                        store.begin("completed", "fp-a", LONG).await.unwrap(),
                        IdempotencyBegin::Completed(json_response())
                    );
                })
                .await;
            }

            #[tokio::test]
            async fn an_in_progress_lock_expires_after_its_ttl() {
                bounded(async {
                    let (store, _guard) = $idempotency;
                    store.begin("key-1", "fp-a", SHORT).await.unwrap();

                    tokio::time::sleep(PAST_SHORT).await;
                    let retry = store.begin("key-1", "fp-b", LONG).await.unwrap();

                    assert_eq!(retry, IdempotencyBegin::Started);
                })
                .await;
            }

            #[tokio::test]
            async fn a_completed_response_is_kept_for_its_retention_not_its_lock_ttl() {
                bounded(async {
                    let (store, _guard) = $idempotency;
                    store.begin("key-1", "fp-a", SHORT).await.unwrap();

                    store
                        .complete("key-1", "fp-a", json_response(), LONG)
                        .await
                        .unwrap();
                    tokio::time::sleep(PAST_SHORT).await;

                    assert_eq!(
                        store.begin("key-1", "fp-a", LONG).await.unwrap(),
                        IdempotencyBegin::Completed(json_response())
                    );
                })
                .await;
            }

            #[tokio::test]
            async fn a_completed_response_is_forgotten_after_its_retention() {
                bounded(async {
                    let (store, _guard) = $idempotency;
                    store.begin("key-1", "fp-a", LONG).await.unwrap();

                    store
                        .complete("key-1", "fp-a", json_response(), SHORT)
                        .await
                        .unwrap();
                    tokio::time::sleep(PAST_SHORT).await;

                    assert_eq!(
                        store.begin("key-1", "fp-a", LONG).await.unwrap(),
                        IdempotencyBegin::Started
                    );
                })
                .await;
            }

            #[tokio::test]
            async fn keys_may_contain_any_character() {
                bounded(async {
                    let (store, _guard) = $idempotency;
                    let key = "}{ key with {braces} | and spaces";
                    store.begin(key, "fp-a", LONG).await.unwrap();

                    store
                        .complete(key, "fp-a", json_response(), LONG)
                        .await
                        .unwrap();

                    assert_eq!(
                        store.begin(key, "fp-a", LONG).await.unwrap(),
                        IdempotencyBegin::Completed(json_response())
                    );
                    assert_eq!(
                        store.begin("}{ key with", "fp-a", LONG).await.unwrap(),
                        IdempotencyBegin::Started
                    );
                })
                .await;
            }

            #[tokio::test]
            async fn exactly_one_of_many_concurrent_identical_requests_starts() {
                bounded(async {
                    let (store, _guard) = $idempotency;

                    let tasks: Vec<_> = (0..CONCURRENT_CALLERS)
                        .map(|_| {
                            let store = store.clone();
                            tokio::spawn(async move { store.begin("key-1", "fp-a", LONG).await })
                        })
                        .collect();
                    let mut outcomes = Vec::new();
                    for task in tasks {
                        outcomes.push(task.await.unwrap().unwrap());
                    }

                    let started = outcomes
                        .iter()
                        .filter(|outcome| **outcome == IdempotencyBegin::Started)
                        .count();
                    let in_progress = outcomes
                        .iter()
                        .filter(|outcome| **outcome == IdempotencyBegin::InProgress)
                        .count();
                    assert_eq!(started, 1, "{outcomes:?}");
                    assert_eq!(in_progress, CONCURRENT_CALLERS - 1, "{outcomes:?}");
                })
                .await;
            }
        }
    };
}
