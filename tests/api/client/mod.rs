//! The typed client (`orchestrator-client`) against a real orchestrator: every REST operation
//! with its typed answer, refusals as the envelope's code, idempotency keys and replays,
//! operator keys on REST, WebSocket and gRPC, and subscriptions that resume across forced
//! disconnects without losing or repeating an event. (Retries of 503 and 429 and their
//! `Retry-After`: the client crate's own tests against a stub, `crates/client/tests`.)

mod auth;
mod errors;
mod example;
mod idempotency;
mod operations;
mod subscriptions;

use std::time::Duration;

use futures_util::StreamExt;
use orchestrator_client::{ClientError, Metadata, Subscription, Update};
use serde_json::Value;

/// How long a subscription may take to deliver what a test expects.
const WITHIN: Duration = Duration::from_secs(20);

/// A JSON object literal as metadata.
fn meta(value: Value) -> Metadata {
    value.as_object().expect("an object").clone()
}

/// Every update until the subscription ends (within [`WITHIN`]); an `Err` fails the test.
async fn until_end<E>(subscription: Subscription<E>) -> Vec<Update<E>> {
    tokio::time::timeout(WITHIN, subscription.map(Result::unwrap).collect())
        .await
        .expect("the subscription ends")
}

/// The end of a subscription that fails: its items before, and the error.
async fn until_error<E: std::fmt::Debug>(
    mut subscription: Subscription<E>,
) -> (Vec<Update<E>>, ClientError) {
    let mut items = Vec::new();
    loop {
        match tokio::time::timeout(WITHIN, subscription.next()).await {
            Ok(Some(Ok(item))) => items.push(item),
            Ok(Some(Err(err))) => return (items, err),
            Ok(None) => panic!("ended without an error after {items:?}"),
            Err(_) => panic!("no error within {WITHIN:?} after {items:?}"),
        }
    }
}

/// The seqs of the events among `updates`.
fn seqs(updates: &[Update<orchestrator_client::Event>]) -> Vec<u64> {
    updates
        .iter()
        .filter_map(|update| match update {
            Update::Event(event) => Some(event.seq),
            Update::ResyncRequired(_) => None,
        })
        .collect()
}
