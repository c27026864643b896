use std::sync::Mutex;

use mockall::predicate::{always, eq};

use super::*;
use crate::coordination::MockIdempotencyStore;

const POLICY: IdempotencyPolicy = IdempotencyPolicy {
    retention: Duration::from_secs(86_400),
    lock_ttl: Duration::from_secs(60),
};

fn key(raw: &str) -> IdempotencyKey {
    IdempotencyKey::new(raw).unwrap()
}

fn engine(store: MockIdempotencyStore) -> Idempotency {
    Idempotency::new(Arc::new(store), POLICY)
}

fn answer(text: &str) -> StoredAnswer {
    StoredAnswer(text.as_bytes().to_vec())
}

fn keep_all(answer: &&str) -> Option<StoredAnswer> {
    Some(StoredAnswer(answer.as_bytes().to_vec()))
}

#[test]
fn keys_are_one_to_255_visible_ascii_characters() {
    assert!(IdempotencyKey::new("a").is_ok());
    assert!(IdempotencyKey::new(&"k".repeat(255)).is_ok());
    assert!(IdempotencyKey::new("order 42/retry").is_ok());
    for bad in [
        String::new(),
        "k".repeat(256),
        "tab\there".into(),
        "é".into(),
    ] {
        assert_eq!(
            IdempotencyKey::new(&bad),
            Err(IdempotencyError::InvalidKey),
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn a_first_request_executes_and_its_answer_is_kept_for_the_retention() {
    let mut store = MockIdempotencyStore::new();
    store
        .expect_begin()
        .with(eq("- POST /streams k1"), always(), eq(POLICY.lock_ttl))
        .returning(|_, _, _| Ok(IdempotencyBegin::Started));
    store
        .expect_complete()
        .with(
            eq("- POST /streams k1"),
            always(),
            eq(answer("created")),
            eq(POLICY.retention),
        )
        .times(1)
        .returning(|_, _, _, _| Ok(()));

    let run = engine(store)
        .run_once(
            None,
            "POST /streams",
            &key("k1"),
            &[b"{}"],
            || async { "created" },
            keep_all,
        )
        .await;

    assert_eq!(run, Ok(Run::Fresh("created")));
}

#[tokio::test]
async fn a_retry_replays_the_kept_answer_and_executes_nothing() {
    let mut store = MockIdempotencyStore::new();
    store
        .expect_begin()
        .returning(|_, _, _| Ok(IdempotencyBegin::Completed(answer("created"))));
    let executed = Mutex::new(false);

    let run = engine(store)
        .run_once(
            None,
            "POST /streams",
            &key("k1"),
            &[b"{}"],
            || async { *executed.lock().unwrap() = true },
            |_| None,
        )
        .await;

    assert_eq!(run, Ok(Run::Replayed(answer("created"))));
    assert!(!*executed.lock().unwrap());
}

#[tokio::test]
async fn a_key_in_use_or_reused_refuses_without_executing() {
    for (found, refusal) in [
        (IdempotencyBegin::InProgress, IdempotencyError::KeyInUse),
        (IdempotencyBegin::Mismatch, IdempotencyError::KeyReused),
    ] {
        let mut store = MockIdempotencyStore::new();
        store
            .expect_begin()
            .returning(move |_, _, _| Ok(found.clone()));
        let run = engine(store)
            .run_once(
                None,
                "s",
                &key("k"),
                &[b""],
                || async { unreachable!() },
                keep_all,
            )
            .await;
        assert_eq!(run, Err(refusal));
    }
}

#[tokio::test]
async fn an_answer_that_must_not_be_kept_releases_the_key_for_a_retry() {
    let mut store = MockIdempotencyStore::new();
    store
        .expect_begin()
        .returning(|_, _, _| Ok(IdempotencyBegin::Started));
    store.expect_complete().never();
    store
        .expect_abandon()
        .with(eq("- s k"), always())
        .times(1)
        .returning(|_, _| Ok(()));

    let run = engine(store)
        .run_once(None, "s", &key("k"), &[b""], || async { "503" }, |_| None)
        .await;

    assert_eq!(run, Ok(Run::Fresh("503")));
}

#[tokio::test]
async fn a_store_that_is_down_refuses_before_executing() {
    let mut store = MockIdempotencyStore::new();
    store
        .expect_begin()
        .returning(|_, _, _| Err(StoreError::Unavailable("down".into())));

    let run = engine(store)
        .run_once(
            None,
            "s",
            &key("k"),
            &[b""],
            || async { unreachable!() },
            keep_all,
        )
        .await;

    assert_eq!(
        run,
        Err(IdempotencyError::Store(StoreError::Unavailable(
            "down".into()
        )))
    );
}

#[test]
fn fingerprints_tell_apart_requests_whose_bytes_only_moved_between_parts() {
    assert_eq!(fingerprint(&[b"ab", b"c"]), fingerprint(&[b"ab", b"c"]));
    assert_ne!(fingerprint(&[b"ab", b"c"]), fingerprint(&[b"a", b"bc"]));
}

#[tokio::test]
async fn the_same_idempotency_key_of_two_callers_is_two_scopes() {
    let (first, second) = ("key-1", "key-2");
    let scopes = std::sync::Arc::new(Mutex::new(Vec::new()));
    let mut store = MockIdempotencyStore::new();
    let seen = scopes.clone();
    store.expect_begin().returning(move |scope, _, _| {
        seen.lock().unwrap().push(scope.to_owned());
        Ok(IdempotencyBegin::Started)
    });
    store.expect_complete().returning(|_, _, _, _| Ok(()));
    let engine = engine(store);

    for caller in [Some(first), Some(second), None] {
        engine
            .run_once(
                caller,
                "POST /streams",
                &key("k1"),
                &[b"{}"],
                || async { "x" },
                keep_all,
            )
            .await
            .unwrap();
    }

    let scopes = scopes.lock().unwrap().clone();
    assert_eq!(
        scopes,
        [
            format!("{first} POST /streams k1"),
            format!("{second} POST /streams k1"),
            "- POST /streams k1".to_owned(),
        ]
    );
}
