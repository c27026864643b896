//! Rate limits: how many requests one client may make, per operator key and per source address,
//! whatever the transport (a key's REST requests, WebSocket handshakes and gRPC calls count
//! together). Each limit is a token bucket, `per_sec` requests per second on average and `burst`
//! at once, kept as GCRA (one theoretical arrival time per bucket). Beyond it a request is
//! refused with [`Limited`], which says how long to wait; each transport turns that into its
//! own refusal (`429` with `Retry-After`, `RESOURCE_EXHAUSTED` with `retry-after`).
//!
//! Addresses are counted by [`address_key`]: IPv4 addresses one by one, IPv6 by /64 (what one
//! host or customer usually gets). Behind a load balancer every request comes from its address,
//! so there the per-address limits belong on the balancer and the per-key limits here.
//!
//! Plain state, no I/O: the buckets read the monotonic clock and live in memory, one set per
//! process (instances do not share them).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::access::KeyId;

/// A token bucket: `per_sec` requests per second on average, `burst` at once. `per_sec == 0`
/// turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Sustained requests per second.
    pub per_sec: u32,
    /// Requests allowed at once (at least `per_sec`).
    pub burst: u32,
}

impl Rate {
    /// No limit.
    pub const OFF: Rate = Rate {
        per_sec: 0,
        burst: 0,
    };
}

/// A bucket was empty: who was limited, and when to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// `this API key` or `this address`.
    pub who: &'static str,
    /// How long until the bucket has a request again.
    pub retry_after: Duration,
}

impl Limited {
    /// [`Limited::retry_after`] in whole seconds, at least 1 (for `Retry-After`).
    pub fn retry_after_secs(&self) -> u64 {
        let wait = self.retry_after;
        (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
    }
}

/// How often the buckets of clients that went quiet are dropped (in checks), so the maps stay
/// as small as the set of active clients.
const HOUSEKEEPING_EVERY: u64 = 4096;

/// The request-rate limits of one process (shared by every worker and transport).
#[derive(Debug)]
pub struct RateLimits {
    per_key: Option<Buckets<KeyId>>,
    per_address: Option<Buckets<IpAddr>>,
    checks: AtomicU64,
}

impl RateLimits {
    /// Limits per operator key and per source address.
    pub fn new(per_key: Rate, per_address: Rate) -> Self {
        let start = Instant::now();
        Self {
            per_key: Buckets::new(per_key, start),
            per_address: Buckets::new(per_address, start),
            checks: AtomicU64::new(0),
        }
    }

    /// No limits.
    pub fn off() -> Self {
        Self::new(Rate::OFF, Rate::OFF)
    }

    /// Takes one request from the bucket of `ip` (none: not counted).
    ///
    /// # Errors
    /// [`Limited`] when the bucket is empty.
    pub fn check_address(&self, ip: Option<IpAddr>) -> Result<(), Limited> {
        // Off (the default outside production): no clock read and no shared count per request.
        if self.is_off() {
            return Ok(());
        }
        self.check_address_at(ip, Instant::now())
    }

    /// Takes one request from the bucket of `key`.
    ///
    /// # Errors
    /// [`Limited`] when the bucket is empty.
    pub fn check_key(&self, key: &KeyId) -> Result<(), Limited> {
        if self.per_key.is_none() {
            return Ok(());
        }
        self.check_key_at(key, Instant::now())
    }

    /// Takes one call from the bucket of its address, then from its key's (a call without a key
    /// counts against its address only).
    ///
    /// # Errors
    /// [`Limited`] when a bucket is empty.
    pub fn check(&self, ip: Option<IpAddr>, key: Option<&KeyId>) -> Result<(), Limited> {
        if self.is_off() {
            return Ok(());
        }
        self.check_at(ip, key, Instant::now())
    }

    /// Whether neither limit is on.
    fn is_off(&self) -> bool {
        self.per_key.is_none() && self.per_address.is_none()
    }

    fn check_at(
        &self,
        ip: Option<IpAddr>,
        key: Option<&KeyId>,
        now: Instant,
    ) -> Result<(), Limited> {
        self.check_address_at(ip, now)?;
        key.map_or(Ok(()), |key| self.check_key_at(key, now))
    }

    fn check_address_at(&self, ip: Option<IpAddr>, now: Instant) -> Result<(), Limited> {
        self.housekeeping(now);
        let (Some(buckets), Some(ip)) = (&self.per_address, ip) else {
            return Ok(());
        };
        buckets
            .take(&address_key(ip), now)
            .map_err(|retry_after| Limited {
                who: "this address",
                retry_after,
            })
    }

    fn check_key_at(&self, key: &KeyId, now: Instant) -> Result<(), Limited> {
        let Some(buckets) = &self.per_key else {
            return Ok(());
        };
        buckets.take(key, now).map_err(|retry_after| Limited {
            who: "this API key",
            retry_after,
        })
    }

    fn housekeeping(&self, now: Instant) {
        if !self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(HOUSEKEEPING_EVERY)
        {
            return;
        }
        if let Some(buckets) = &self.per_address {
            buckets.forget_full(now);
        }
        if let Some(buckets) = &self.per_key {
            buckets.forget_full(now);
        }
    }
}

/// The address a limit counts: IPv4 as it is (an IPv4-mapped IPv6 address too), IPv6 by its /64.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

/// Shards of the bucket maps: concurrent checks of different clients rarely wait on one lock.
const SHARDS: usize = 16;

/// One token bucket per key, as GCRA: each key's theoretical arrival time (TAT), kept as the
/// time since `start`. A request at `now` is admitted when `now >= TAT - tolerance`, and moves
/// the TAT to `max(TAT, now) + interval`; a key without a TAT has a full bucket.
struct Buckets<K> {
    /// Time between two requests at the sustained rate.
    interval: Duration,
    /// How far ahead of `now` the TAT may run: `interval × (burst − 1)`.
    tolerance: Duration,
    start: Instant,
    hasher: RandomState,
    shards: Box<[Mutex<HashMap<K, Duration>>]>,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    /// The buckets of `rate`; none when it is off.
    fn new(rate: Rate, start: Instant) -> Option<Self> {
        if rate.per_sec == 0 {
            return None;
        }
        let interval = (Duration::from_secs(1) / rate.per_sec).max(Duration::from_nanos(1));
        let burst = rate.burst.max(rate.per_sec);
        Some(Self {
            interval,
            tolerance: interval * (burst - 1),
            start,
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        })
    }

    /// Takes one request from `key`'s bucket, or answers how long until it has one.
    fn take(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let now = now.saturating_duration_since(self.start);
        let mut shard = self.shard(key);
        match shard.get_mut(key) {
            Some(tat) => self.admit(tat, now),
            // A key is cloned once, when its bucket is made.
            None => self.admit(shard.entry(key.clone()).or_insert(now), now),
        }
    }

    fn admit(&self, tat: &mut Duration, now: Duration) -> Result<(), Duration> {
        let earliest = tat.saturating_sub(self.tolerance);
        if now < earliest {
            return Err(earliest - now);
        }
        *tat = (*tat).max(now) + self.interval;
        Ok(())
    }

    /// Drops the buckets that are full again (a TAT not after `now`): a missing bucket is a
    /// full one, so nothing changes but the memory.
    fn forget_full(&self, now: Instant) {
        let now = now.saturating_duration_since(self.start);
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            shard.retain(|_, tat| *tat > now);
            shard.shrink_to_fit();
        }
    }

    fn shard(&self, key: &K) -> std::sync::MutexGuard<'_, HashMap<K, Duration>> {
        let index = (self.hasher.hash_one(key) as usize) % SHARDS;
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

// By hand: the maps hold every active client, too many for a log line.
impl<K> std::fmt::Debug for Buckets<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buckets")
            .field("interval", &self.interval)
            .field("tolerance", &self.tolerance)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;
