//! Coordination ports: what lets several orchestrator instances act as one service without
//! doing the same thing twice.
//!
//! - [`LeaseStore`]: a named, expiring lease with a fencing token. Side effects that only one
//!   instance may perform (LiveKit calls for a stream, the single reconciler) run under a lease,
//!   and the writes they make check [`LeaseStore::is_current`] so that a holder that lost its
//!   lease (a long GC pause, a partition) cannot overwrite the work of the next holder.
//! - [`IdempotencyStore`]: Stripe-like idempotency keys. A retried request with the same key
//!   and the same body replays the first response instead of executing again.
//! - [`WebhookDedupe`]: webhook providers deliver at least once; this remembers which event
//!   ids were already processed.
//!
//! With the `mocks` feature (and in this crate's tests) every trait has a mockall mock,
//! `Mock<TraitName>`.

use std::time::Duration;

use async_trait::async_trait;

use crate::ports::StoreError;

/// A lease held by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeaseGrant {
    /// The fencing token: every grant of a lease name has a higher token than every earlier
    /// grant of that name, whoever held it, so a stale holder is recognisable by its token.
    pub token: u64,
}

/// Named, expiring, fenced leases.
///
/// A lease expires unless renewed within its ttl; after that, another holder may take it and
/// gets a higher token. Holders are free-form ids (typically the instance id).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes the lease `name` for `holder` for `ttl` if it is free or expired, or extends it
    /// (keeping its token) if `holder` already holds it. `None` if another holder has it.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails; the lease may or may not have been taken, and
    /// expires by itself if it was.
    async fn acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<LeaseGrant>, StoreError>;

    /// Extends a held lease to `ttl` from now. `false` if it was lost: it expired, another
    /// holder took it, or `token` is not the current grant's.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails; the caller must then assume the lease is lost.
    async fn renew(
        &self,
        name: &str,
        holder: &str,
        token: u64,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Releases the lease if `holder` still holds it with `token`; does nothing otherwise.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails; the lease then expires by itself.
    async fn release(&self, name: &str, holder: &str, token: u64) -> Result<(), StoreError>;

    /// Whether `name` is currently held (not expired, not released) under `token`. A write
    /// guarded by a lease checks this; a stale holder's token fails.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails; the guarded write must then not happen.
    async fn is_current(&self, name: &str, token: u64) -> Result<bool, StoreError>;

    /// Who holds `name` now (not expired, not released): the holder given to
    /// [`acquire`](LeaseStore::acquire). Lets the others find the holder of a lease that
    /// names a shared resource (the embedded LiveKit's address, say).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn holder(&self, name: &str) -> Result<Option<String>, StoreError>;
}

/// An answer kept for replay under an idempotency key: opaque bytes, encoded and decoded by
/// the transport that produced it (see [`crate::idempotency`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer(pub Vec<u8>);

/// What [`IdempotencyStore::begin`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// The key is new: the caller executes the request, then calls
    /// [`complete`](IdempotencyStore::complete) or [`abandon`](IdempotencyStore::abandon).
    Started,
    /// The same request is executing right now (HTTP 409, retry later).
    InProgress,
    /// The same request already completed: replay this answer.
    Completed(StoredAnswer),
    /// The key was used for a different request (HTTP 422).
    Mismatch,
}

/// Idempotency keys and the answers they produced.
///
/// A fingerprint identifies the request (a hash of method, route and body computed by the
/// caller), so that a key reused for another request is refused rather than replayed.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Atomically: if `key` is unknown, records it as in progress with `fingerprint` for at most
    /// `lock_ttl` (so a crashed executor does not block the key forever) and returns
    /// [`Started`](IdempotencyBegin::Started). A known key with another fingerprint is
    /// [`Mismatch`](IdempotencyBegin::Mismatch) whatever its state; with the same fingerprint
    /// it is [`InProgress`](IdempotencyBegin::InProgress) or
    /// [`Completed`](IdempotencyBegin::Completed).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails; the caller must not execute the request.
    async fn begin(
        &self,
        key: &str,
        fingerprint: &str,
        lock_ttl: Duration,
    ) -> Result<IdempotencyBegin, StoreError>;

    /// Stores `answer` for `retention` (e.g. 24 h), only if `key` is still in progress with
    /// `fingerprint`; does nothing otherwise (its lock expired and another request took it).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails; the key's lock then expires by itself and a retry
    /// executes again.
    async fn complete(
        &self,
        key: &str,
        fingerprint: &str,
        answer: StoredAnswer,
        retention: Duration,
    ) -> Result<(), StoreError>;

    /// Forgets `key` if it is in progress with `fingerprint` (the request failed with a
    /// retryable error, so a retry must execute again); does nothing otherwise.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails; the key's lock then expires by itself.
    async fn abandon(&self, key: &str, fingerprint: &str) -> Result<(), StoreError>;
}

/// Which webhook events were already delivered.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait WebhookDedupe: Send + Sync {
    /// Records `event_id` for `ttl`: `true` the first time, `false` for a redelivery within
    /// `ttl`.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails; the caller should refuse the delivery so that the
    /// provider redelivers it.
    async fn first_delivery(&self, event_id: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Forgets `event_id` (its processing failed, so a redelivery must be processed).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails; the id then expires by itself.
    async fn forget(&self, event_id: &str) -> Result<(), StoreError>;
}
