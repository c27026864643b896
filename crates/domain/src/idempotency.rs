//! Idempotent execution with Stripe's semantics, the one engine every transport uses.
//!
//! A request carrying an [`IdempotencyKey`] runs at most once per scope (the caller, the
//! transport and operation, the key) within the retention window, across every instance sharing
//! the store. The caller is whoever the transport authenticated (the orchestrator service passes
//! the id of the operator API key): an answer belongs to the caller that made it, so another
//! caller reusing the same idempotency key is a fresh request (it never gets the first caller's
//! answer, a join token included):
//!
//! - first time: it executes; its answer is kept for [`IdempotencyPolicy::retention`], unless
//!   the transport says it must not be kept (a failure of a dependency is not an answer, so a
//!   retry executes again);
//! - again with the same request: the kept answer is replayed and nothing executes;
//! - again with another request under the same key: [`IdempotencyError::KeyReused`];
//! - again while the first still executes: [`IdempotencyError::KeyInUse`].
//!
//! The engine never looks inside an answer: each transport encodes its own answers to bytes
//! ([`StoredAnswer`]) and decodes them when replaying.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::coordination::{IdempotencyBegin, IdempotencyStore, StoredAnswer};
use crate::ports::StoreError;

/// A client's idempotency key: 1 to [`IdempotencyKey::MAX_LEN`] visible ASCII characters
/// (spaces included), the same rule on every transport.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Longest accepted key.
    pub const MAX_LEN: usize = 255;

    /// Validates a key as a client sent it.
    ///
    /// # Errors
    /// [`IdempotencyError::InvalidKey`] when empty, too long or not visible ASCII.
    pub fn new(raw: &str) -> Result<Self, IdempotencyError> {
        let visible = |b: u8| (b' '..=b'~').contains(&b);
        let valid = (1..=Self::MAX_LEN).contains(&raw.len()) && raw.bytes().all(visible);
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(IdempotencyError::InvalidKey)
        }
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How long answers and locks last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyPolicy {
    /// How long an answer is replayed.
    pub retention: Duration,
    /// How long a key stays "in progress" if its request never finishes (a crashed instance).
    pub lock_ttl: Duration,
}

/// Why a keyed request did not execute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdempotencyError {
    /// The key is not 1 to 255 visible ASCII characters.
    #[error(
        "an idempotency key must be 1 to {} visible ASCII characters",
        IdempotencyKey::MAX_LEN
    )]
    InvalidKey,
    /// The same request is still executing; retry later.
    #[error("a request with this idempotency key is still being processed; retry later")]
    KeyInUse,
    /// The key was used with a different request.
    #[error("this idempotency key was used with a different request")]
    KeyReused,
    /// The store failed; nothing executed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What [`Idempotency::run_once`] gives back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Run<T> {
    /// The request executed now; here is its answer.
    Fresh(T),
    /// The request executed before; here is the answer it gave, as its transport stored it.
    Replayed(StoredAnswer),
}

/// The idempotency engine. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Idempotency {
    store: Arc<dyn IdempotencyStore>,
    policy: IdempotencyPolicy,
}

impl std::fmt::Debug for Idempotency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotency")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Idempotency {
    /// The engine on `store`.
    pub fn new(store: Arc<dyn IdempotencyStore>, policy: IdempotencyPolicy) -> Self {
        Self { store, policy }
    }

    /// Runs `execute` at most once for `key` of `caller` (the authenticated caller's stable id,
    /// without spaces; `None`: callers are anonymous, and all one caller) within `scope` (what the key is valid for, e.g.
    /// `"POST /streams"`), for a request made of `request` (every byte that makes it what it
    /// is: a retry must present the same). `keep` encodes a fresh answer for replay, or says
    /// `None` when it must not be kept (a retry then executes again).
    ///
    /// # Errors
    /// [`IdempotencyError`] when the request did not execute (key in use or reused, store
    /// down); nothing executed then.
    pub async fn run_once<T, F, Fut>(
        &self,
        caller: Option<&str>,
        scope: &str,
        key: &IdempotencyKey,
        request: &[&[u8]],
        execute: F,
        keep: impl FnOnce(&T) -> Option<StoredAnswer>,
    ) -> Result<Run<T>, IdempotencyError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        // `-`: access is open (no keys configured), every caller is the same one.
        let caller = caller.unwrap_or("-");
        let scope = format!("{caller} {scope} {}", key.as_str());
        let fingerprint = fingerprint(request);
        match self
            .store
            .begin(&scope, &fingerprint, self.policy.lock_ttl)
            .await?
        {
            IdempotencyBegin::Started => {}
            IdempotencyBegin::Completed(answer) => return Ok(Run::Replayed(answer)),
            IdempotencyBegin::InProgress => return Err(IdempotencyError::KeyInUse),
            IdempotencyBegin::Mismatch => return Err(IdempotencyError::KeyReused),
        }
        let answer = execute().await;
        match keep(&answer) {
            // If the store fails here the request still executed: a retry after the lock
            // expires would run it again, the best that can be done without the store.
            Some(stored) => {
                let _ = self
                    .store
                    .complete(&scope, &fingerprint, stored, self.policy.retention)
                    .await;
            }
            // Best effort: an abandoned key also expires with its lock.
            None => {
                let _ = self.store.abandon(&scope, &fingerprint).await;
            }
        }
        Ok(Run::Fresh(answer))
    }
}

/// A hex SHA-256 over the parts, each length-prefixed so that moving bytes between parts
/// changes the fingerprint.
fn fingerprint(parts: &[&[u8]]) -> String {
    let mut digest = Sha256::new();
    for part in parts {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part);
    }
    digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
#[path = "idempotency_tests.rs"]
mod tests;
