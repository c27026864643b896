//! In-memory coordination: leases, idempotency keys and webhook dedupe for a single instance
//! (the embedded default) and for tests.
//!
//! One mutex guards all three maps and is held only for the few map operations of a call,
//! never across an `.await`. Expiry compares [`Instant`]s: an expired entry is treated as
//! absent when read and removed then; in addition each map sweeps out all its expired entries
//! once it has seen as many inserts as it had entries at the previous sweep (at least 256),
//! so ids that are never read again cannot pile up, at an amortised constant cost per insert.
//!
//! Fencing tokens come from one counter shared by every lease name. They therefore increase
//! per name too, without a per-name counter that would have to outlive the lease (and grow with
//! every name ever used).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use orchestrator_domain::coordination::{
    IdempotencyBegin, IdempotencyStore, LeaseGrant, LeaseStore, StoredAnswer, WebhookDedupe,
};
use orchestrator_domain::ports::StoreError;

/// Inserts a map sees before its first sweep of expired entries.
const SWEEP_MIN_INSERTS: usize = 256;

/// Far enough in the future to never expire, for a ttl too large for [`Instant`].
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Leases, idempotency keys and webhook ids in process memory. Cheap to clone; clones share
/// the data.
#[derive(Debug, Clone, Default)]
pub struct MemoryCoordination {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    leases: ExpiringMap<Lease>,
    last_token: u64,
    idempotency: ExpiringMap<Idempotency>,
    webhooks: ExpiringMap<()>,
}

#[derive(Debug)]
struct Lease {
    holder: String,
    token: u64,
}

#[derive(Debug)]
struct Idempotency {
    fingerprint: String,
    response: Option<StoredAnswer>,
}

impl MemoryCoordination {
    /// Empty: no lease held, no key or event id known.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every call mutates the maps with single, non-panicking steps, so a poisoned lock
        // still guards consistent data.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn deadline(now: Instant, ttl: Duration) -> Instant {
    now.checked_add(ttl)
        .or_else(|| now.checked_add(FOREVER))
        .unwrap_or(now)
}

#[async_trait]
impl LeaseStore for MemoryCoordination {
    async fn acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<LeaseGrant>, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        if let Some(entry) = inner.leases.live_mut(name, now) {
            if entry.value.holder != holder {
                return Ok(None);
            }
            entry.expires_at = deadline(now, ttl);
            return Ok(Some(LeaseGrant {
                token: entry.value.token,
            }));
        }
        inner.last_token += 1;
        let token = inner.last_token;
        let lease = Lease {
            holder: holder.to_owned(),
            token,
        };
        inner.leases.insert(name, lease, deadline(now, ttl), now);
        Ok(Some(LeaseGrant { token }))
    }

    async fn renew(
        &self,
        name: &str,
        holder: &str,
        token: u64,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        match inner.leases.live_mut(name, now) {
            Some(entry) if entry.value.holder == holder && entry.value.token == token => {
                entry.expires_at = deadline(now, ttl);
                Ok(true)
            }
            Some(_) | None => Ok(false),
        }
    }

    async fn release(&self, name: &str, holder: &str, token: u64) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        let held = inner
            .leases
            .live_mut(name, now)
            .is_some_and(|entry| entry.value.holder == holder && entry.value.token == token);
        if held {
            inner.leases.remove(name);
        }
        Ok(())
    }

    async fn is_current(&self, name: &str, token: u64) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        Ok(inner
            .leases
            .live_mut(name, now)
            .is_some_and(|entry| entry.value.token == token))
    }

    async fn holder(&self, name: &str) -> Result<Option<String>, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        Ok(inner
            .leases
            .live_mut(name, now)
            .map(|entry| entry.value.holder.clone()))
    }
}

#[async_trait]
impl IdempotencyStore for MemoryCoordination {
    async fn begin(
        &self,
        key: &str,
        fingerprint: &str,
        lock_ttl: Duration,
    ) -> Result<IdempotencyBegin, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        if let Some(entry) = inner.idempotency.live_mut(key, now) {
            if entry.value.fingerprint != fingerprint {
                return Ok(IdempotencyBegin::Mismatch);
            }
            return Ok(match &entry.value.response {
                Some(response) => IdempotencyBegin::Completed(response.clone()),
                None => IdempotencyBegin::InProgress,
            });
        }
        let started = Idempotency {
            fingerprint: fingerprint.to_owned(),
            response: None,
        };
        inner
            .idempotency
            .insert(key, started, deadline(now, lock_ttl), now);
        Ok(IdempotencyBegin::Started)
    }

    async fn complete(
        &self,
        key: &str,
        fingerprint: &str,
        response: StoredAnswer,
        retention: Duration,
    ) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        if let Some(entry) = inner.idempotency.live_mut(key, now) {
            if entry.value.fingerprint == fingerprint && entry.value.response.is_none() {
                entry.value.response = Some(response);
                entry.expires_at = deadline(now, retention);
            }
        }
        Ok(())
    }

    async fn abandon(&self, key: &str, fingerprint: &str) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        let in_progress = inner.idempotency.live_mut(key, now).is_some_and(|entry| {
            entry.value.fingerprint == fingerprint && entry.value.response.is_none()
        });
        if in_progress {
            inner.idempotency.remove(key);
        }
        Ok(())
    }
}

#[async_trait]
impl WebhookDedupe for MemoryCoordination {
    async fn first_delivery(&self, event_id: &str, ttl: Duration) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        if inner.webhooks.live_mut(event_id, now).is_some() {
            return Ok(false);
        }
        inner.webhooks.insert(event_id, (), deadline(now, ttl), now);
        Ok(true)
    }

    async fn forget(&self, event_id: &str) -> Result<(), StoreError> {
        self.lock().webhooks.remove(event_id);
        Ok(())
    }
}

/// A map whose entries vanish at their deadline.
#[derive(Debug)]
struct ExpiringMap<V> {
    entries: HashMap<String, Expiring<V>>,
    inserts_since_sweep: usize,
    /// Inserts to see before the next sweep: the size after the previous one, so that sweeps
    /// cost a constant per insert on average.
    sweep_after: usize,
}

#[derive(Debug)]
struct Expiring<V> {
    value: V,
    expires_at: Instant,
}

impl<V> Default for ExpiringMap<V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            inserts_since_sweep: 0,
            sweep_after: SWEEP_MIN_INSERTS,
        }
    }
}

impl<V> ExpiringMap<V> {
    /// The entry of `key` if it has not expired at `now` (an expired one is removed).
    fn live_mut(&mut self, key: &str, now: Instant) -> Option<&mut Expiring<V>> {
        if self
            .entries
            .get(key)
            .is_some_and(|entry| entry.expires_at <= now)
        {
            self.entries.remove(key);
        }
        self.entries.get_mut(key)
    }

    fn insert(&mut self, key: &str, value: V, expires_at: Instant, now: Instant) {
        self.inserts_since_sweep += 1;
        if self.inserts_since_sweep >= self.sweep_after {
            self.entries.retain(|_, entry| entry.expires_at > now);
            self.inserts_since_sweep = 0;
            self.sweep_after = self.entries.len().max(SWEEP_MIN_INSERTS);
        }
        self.entries
            .insert(key.to_owned(), Expiring { value, expires_at });
    }

    fn remove(&mut self, key: &str) {
        self.entries.remove(key);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_entries_are_swept_even_if_never_read_again() {
        let mut map = ExpiringMap::default();
        let start = Instant::now();
        for i in 0..SWEEP_MIN_INSERTS {
            map.insert(
                &format!("old-{i}"),
                (),
                start + Duration::from_millis(1),
                start,
            );
        }
        let later = start + Duration::from_secs(1);

        for i in 0..SWEEP_MIN_INSERTS {
            map.insert(&format!("new-{i}"), (), later + FOREVER, later);
        }

        assert!(
            map.len() <= SWEEP_MIN_INSERTS + 1,
            "{} entries kept, expired ones were not swept",
            map.len()
        );
    }

    #[test]
    fn live_entries_survive_a_sweep() {
        let mut map = ExpiringMap::default();
        let now = Instant::now();
        for i in 0..(3 * SWEEP_MIN_INSERTS) {
            map.insert(&format!("live-{i}"), i, now + FOREVER, now);
        }

        assert_eq!(map.len(), 3 * SWEEP_MIN_INSERTS);
        assert_eq!(map.live_mut("live-0", now).map(|e| e.value), Some(0));
    }

    #[tokio::test]
    async fn fencing_tokens_keep_increasing_after_the_lease_map_is_swept() {
        let store = MemoryCoordination::new();
        let first = store
            .acquire("reconciler", "a", Duration::ZERO)
            .await
            .unwrap()
            .unwrap();
        for i in 0..(2 * SWEEP_MIN_INSERTS) {
            store
                .acquire(&format!("other-{i}"), "a", Duration::ZERO)
                .await
                .unwrap();
        }

        let second = store
            .acquire("reconciler", "b", Duration::from_secs(10))
            .await
            .unwrap()
            .unwrap();

        assert!(second.token > first.token);
    }
}
