//! The [`LeaseStore`](orchestrator_domain::coordination::LeaseStore) contract.

/// Holds a store to the `LeaseStore` contract: `lease_store_contract!(<expression yielding (store, guard)>)`.
#[macro_export]
macro_rules! lease_store_contract {
    ($leases:expr) => {
        mod leases {
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
            async fn a_free_lease_is_granted_and_then_refused_to_other_holders() {
                bounded(async {
                    let (leases, _guard) = $leases;

                    let grant = leases.acquire("reconciler", "a", LONG).await.unwrap();
                    let other = leases.acquire("reconciler", "b", LONG).await.unwrap();

                    let grant = grant.expect("a free lease is granted");
                    assert_eq!(other, None, "a held lease is exclusive");
                    assert!(leases.is_current("reconciler", grant.token).await.unwrap());
                })
                .await;
            }

            #[tokio::test]
            async fn the_holder_acquiring_again_keeps_its_token_and_extends_the_lease() {
                bounded(async {
                    let (leases, _guard) = $leases;
                    let first = leases
                        .acquire("reconciler", "a", SHORT)
                        .await
                        .unwrap()
                        .unwrap();

                    let again = leases.acquire("reconciler", "a", LONG).await.unwrap();
                    tokio::time::sleep(PAST_SHORT).await;

                    assert_eq!(again, Some(first));
                    assert_eq!(leases.acquire("reconciler", "b", LONG).await.unwrap(), None);
                })
                .await;
            }

            #[tokio::test]
            async fn an_expired_lease_goes_to_another_holder_with_a_higher_token() {
                bounded(async {
                    let (leases, _guard) = $leases;
                    let first = leases
                        .acquire("reconciler", "a", SHORT)
                        .await
                        .unwrap()
                        .unwrap();

                    tokio::time::sleep(PAST_SHORT).await;
                    let second = leases.acquire("reconciler", "b", LONG).await.unwrap();

                    let second = second.expect("an expired lease is free");
                    assert!(second.token > first.token, "{second:?} after {first:?}");
                })
                .await;
            }

            #[tokio::test]
            async fn tokens_keep_increasing_across_releases_and_holders() {
                bounded(async {
                    let (leases, _guard) = $leases;
                    let mut last = 0;
                    for holder in ["a", "b", "a", "c"] {
                        let grant = leases
                            .acquire("reconciler", holder, LONG)
                            .await
                            .unwrap()
                            .unwrap();
                        assert!(grant.token > last, "token {} after {last}", grant.token);
                        leases
                            .release("reconciler", holder, grant.token)
                            .await
                            .unwrap();
                        last = grant.token;
                    }
                })
                .await;
            }

            #[tokio::test]
            async fn renewing_keeps_a_lease_past_its_first_ttl() {
                bounded(async {
                    let (leases, _guard) = $leases;
                    let grant = leases
                        .acquire("reconciler", "a", SHORT)
                        .await
                        .unwrap()
                        .unwrap();

                    let renewed = leases
                        .renew("reconciler", "a", grant.token, LONG)
                        .await
                        .unwrap();
                    tokio::time::sleep(PAST_SHORT).await;

                    assert!(renewed);
                    assert!(leases.is_current("reconciler", grant.token).await.unwrap());
                    assert_eq!(leases.acquire("reconciler", "b", LONG).await.unwrap(), None);
                })
                .await;
            }

            #[tokio::test]
            async fn renewing_fails_once_the_lease_was_lost_to_another_holder() {
                bounded(async {
                    let (leases, _guard) = $leases;
                    let stale = leases
                        .acquire("reconciler", "a", SHORT)
                        .await
                        .unwrap()
                        .unwrap();
                    tokio::time::sleep(PAST_SHORT).await;
                    let current = leases
                        .acquire("reconciler", "b", LONG)
                        .await
                        .unwrap()
                        .unwrap();

                    let renewed = leases
                        .renew("reconciler", "a", stale.token, LONG)
                        .await
                        .unwrap();

                    assert!(!renewed);
                    assert!(leases
                        .is_current("reconciler", current.token)
                        .await
                        .unwrap());
                })
                .await;
            }

            #[tokio::test]
            async fn renewing_fails_after_expiry_even_if_nobody_took_the_lease() {
                bounded(async {
                    let (leases, _guard) = $leases;
                    let grant = leases
                        .acquire("reconciler", "a", SHORT)
                        .await
                        .unwrap()
                        .unwrap();
                    tokio::time::sleep(PAST_SHORT).await;

                    let renewed = leases
                        .renew("reconciler", "a", grant.token, LONG)
                        .await
                        .unwrap();

                    assert!(
                        !renewed,
                        "an expired lease must be acquired again, with a new token"
                    );
                })
                .await;
            }

            #[tokio::test]
            async fn renewing_with_another_token_or_holder_fails() {
                bounded(async {
                    let (leases, _guard) = $leases;
                    let grant = leases
                        .acquire("reconciler", "a", LONG)
                        .await
                        .unwrap()
                        .unwrap();

                    let wrong_token = leases.renew("reconciler", "a", grant.token + 1, LONG).await;
                    let wrong_holder = leases.renew("reconciler", "b", grant.token, LONG).await;
                    let unknown_name = leases.renew("other", "a", grant.token, LONG).await;

                    assert!(!wrong_token.unwrap());
                    assert!(!wrong_holder.unwrap());
                    assert!(!unknown_name.unwrap());
                })
                .await;
            }

            #[tokio::test]
            async fn a_released_lease_can_be_acquired_by_another_holder_with_a_higher_token() {
                bounded(async {
                    let (leases, _guard) = $leases;
                    let first = leases
                        .acquire("reconciler", "a", LONG)
                        .await
                        .unwrap()
                        .unwrap();

                    leases
                        .release("reconciler", "a", first.token)
                        .await
                        .unwrap();
                    let second = leases.acquire("reconciler", "b", LONG).await.unwrap();

                    let second = second.expect("a released lease is free");
                    assert!(second.token > first.token);
                    assert!(!leases.is_current("reconciler", first.token).await.unwrap());
                })
                .await;
            }

            #[tokio::test]
            async fn a_stale_holder_releasing_does_not_release_the_new_holders_lease() {
                bounded(async {
                    let (leases, _guard) = $leases;
                    let stale = leases
                        .acquire("reconciler", "a", SHORT)
                        .await
                        .unwrap()
                        .unwrap();
                    tokio::time::sleep(PAST_SHORT).await;
                    let current = leases
                        .acquire("reconciler", "b", LONG)
                        .await
                        .unwrap()
                        .unwrap();

                    leases
                        .release("reconciler", "a", stale.token)
                        .await
                        .unwrap();
                    leases
                        .release("reconciler", "b", stale.token)
                        .await
                        .unwrap();

                    assert!(leases
                        .is_current("reconciler", current.token)
                        .await
                        .unwrap());
                    assert_eq!(leases.acquire("reconciler", "a", LONG).await.unwrap(), None);
                })
                .await;
            }

            #[tokio::test]
            async fn an_old_token_is_not_current_once_the_lease_changed_hands() {
                bounded(async {
                    let (leases, _guard) = $leases;
                    let stale = leases
                        .acquire("reconciler", "a", SHORT)
                        .await
                        .unwrap()
                        .unwrap();
                    tokio::time::sleep(PAST_SHORT).await;
                    let current = leases
                        .acquire("reconciler", "b", LONG)
                        .await
                        .unwrap()
                        .unwrap();

                    assert!(!leases.is_current("reconciler", stale.token).await.unwrap());
                    assert!(leases
                        .is_current("reconciler", current.token)
                        .await
                        .unwrap());
                })
                .await;
            }

            #[tokio::test]
            async fn no_token_is_current_for_an_expired_or_unknown_lease() {
                bounded(async {
                    let (leases, _guard) = $leases;
                    let grant = leases
                        .acquire("reconciler", "a", SHORT)
                        .await
                        .unwrap()
                        .unwrap();
                    tokio::time::sleep(PAST_SHORT).await;

                    assert!(!leases.is_current("reconciler", grant.token).await.unwrap());
                    assert!(!leases.is_current("never-taken", grant.token).await.unwrap());
                })
                .await;
            }

            #[tokio::test]
            async fn the_holder_of_a_lease_is_known_until_it_is_released_or_expires() {
                bounded(async {
                    let (leases, _guard) = $leases;
                    let held = leases
                        .acquire("shared-livekit", "node|a http://127.0.0.1:7880", LONG)
                        .await
                        .unwrap()
                        .unwrap();
                    leases.acquire("short", "b", SHORT).await.unwrap().unwrap();

                    let holder = leases.holder("shared-livekit").await.unwrap();
                    leases
                        .release("shared-livekit", "node|a http://127.0.0.1:7880", held.token)
                        .await
                        .unwrap();
                    tokio::time::sleep(PAST_SHORT).await;

                    assert_eq!(holder.as_deref(), Some("node|a http://127.0.0.1:7880"));
                    assert_eq!(leases.holder("shared-livekit").await.unwrap(), None);
                    assert_eq!(leases.holder("short").await.unwrap(), None, "expired");
                    assert_eq!(leases.holder("never-taken").await.unwrap(), None);
                })
                .await;
            }

            #[tokio::test]
            async fn leases_with_different_names_are_independent() {
                bounded(async {
                    let (leases, _guard) = $leases;
                    leases
                        .acquire("stream:1", "a", LONG)
                        .await
                        .unwrap()
                        .unwrap();

                    let other = leases.acquire("stream:2", "b", LONG).await.unwrap();

                    assert!(other.is_some());
                })
                .await;
            }

            #[tokio::test]
            async fn names_and_holders_may_contain_any_character() {
                bounded(async {
                    let (leases, _guard) = $leases;
                    let name = "room {a}|b}{";
                    let grant = leases.acquire(name, "node|1", LONG).await.unwrap().unwrap();

                    let prefix_holder = leases.acquire(name, "node", LONG).await.unwrap();
                    let again = leases.acquire(name, "node|1", LONG).await.unwrap();

                    assert_eq!(prefix_holder, None, "`node` is not `node|1`");
                    assert_eq!(again, Some(grant));
                    assert!(leases
                        .renew(name, "node|1", grant.token, LONG)
                        .await
                        .unwrap());
                    assert!(leases.is_current(name, grant.token).await.unwrap());
                })
                .await;
            }

            #[tokio::test]
            async fn exactly_one_of_many_concurrent_holders_gets_a_free_lease() {
                bounded(async {
                    let (leases, _guard) = $leases;

                    let tasks: Vec<_> = (0..CONCURRENT_CALLERS)
                        .map(|i| {
                            let leases = leases.clone();
                            tokio::spawn(async move {
                                leases
                                    .acquire("reconciler", &format!("holder-{i}"), LONG)
                                    .await
                            })
                        })
                        .collect();
                    let mut winners = Vec::new();
                    for task in tasks {
                        if let Some(grant) = task.await.unwrap().unwrap() {
                            winners.push(grant);
                        }
                    }

                    assert_eq!(winners.len(), 1, "winners: {winners:?}");
                })
                .await;
            }
        }
    };
}
