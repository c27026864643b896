//! The [`WebhookDedupe`](orchestrator_domain::coordination::WebhookDedupe) contract.

/// Holds a store to the `WebhookDedupe` contract: `webhook_dedupe_contract!(<expression yielding (store, guard)>)`.
#[macro_export]
macro_rules! webhook_dedupe_contract {
    ($dedupe:expr) => {
        mod dedupe {
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
            async fn the_first_delivery_is_new_and_a_redelivery_is_not() {
                bounded(async {
                    let (dedupe, _guard) = $dedupe;

                    let first = dedupe.first_delivery("evt-1", LONG).await.unwrap();
                    let redelivery = dedupe.first_delivery("evt-1", LONG).await.unwrap();
                    let other = dedupe.first_delivery("evt-2", LONG).await.unwrap();

                    assert!(first);
                    assert!(!redelivery);
                    assert!(other, "event ids are independent");
                })
                .await;
            }

            #[tokio::test]
            async fn a_forgotten_event_is_processed_again_on_redelivery() {
                bounded(async {
                    let (dedupe, _guard) = $dedupe;
                    dedupe.first_delivery("evt-1", LONG).await.unwrap();

                    dedupe.forget("evt-1").await.unwrap();
                    dedupe.forget("never-seen").await.unwrap();

                    assert!(dedupe.first_delivery("evt-1", LONG).await.unwrap());
                })
                .await;
            }

            #[tokio::test]
            async fn an_event_id_is_remembered_only_for_its_ttl() {
                bounded(async {
                    let (dedupe, _guard) = $dedupe;
                    dedupe.first_delivery("evt-1", SHORT).await.unwrap();

                    tokio::time::sleep(PAST_SHORT).await;

                    assert!(dedupe.first_delivery("evt-1", LONG).await.unwrap());
                })
                .await;
            }

            #[tokio::test]
            async fn event_ids_may_contain_any_character() {
                bounded(async {
                    let (dedupe, _guard) = $dedupe;

                    assert!(dedupe.first_delivery("evt-{1}", LONG).await.unwrap());
                    assert!(!dedupe.first_delivery("evt-{1}", LONG).await.unwrap());
                    assert!(dedupe.first_delivery("evt-{1", LONG).await.unwrap());
                })
                .await;
            }
        }
    };
}
