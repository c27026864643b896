// The coordination contract (LeaseStore, IdempotencyStore, WebhookDedupe), shared by every
// store: each store's test file `include!`s this file and invokes
//
//     coordination_contract! {
//         leases: <expression making a fresh LeaseStore>,
//         idempotency: <expression making a fresh IdempotencyStore>,
//         dedupe: <expression making a fresh WebhookDedupe>,
//     }
//
// Each expression yields `(store, guard)`: the guard keeps what the store needs alive (a Redis
// server) until the test ends. It is evaluated once per test, so every test gets its own store.
// Stores must be `Clone + 'static` (the concurrency tests share one across tasks). Expiry is
// tested with real time (short ttls, longer sleeps), so every test is bounded by a timeout.

#[allow(unused_macros)]
macro_rules! coordination_contract {
    (leases: $leases:expr, idempotency: $idempotency:expr, dedupe: $dedupe:expr $(,)?) => {
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

        // ---------------------------------------------------------------------------------
        // LeaseStore
        // ---------------------------------------------------------------------------------

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

        // ---------------------------------------------------------------------------------
        // IdempotencyStore
        // ---------------------------------------------------------------------------------

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

        // ---------------------------------------------------------------------------------
        // WebhookDedupe
        // ---------------------------------------------------------------------------------

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
    };
}
