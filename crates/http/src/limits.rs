//! Limits on what one client may take from the HTTP port: requests per second per operator key
//! and per source address (GCRA token buckets with [governor]), and concurrent connections per
//! source address. Beyond them a client gets `429` with `Retry-After` and the error envelope;
//! nothing else is slowed down.
//!
//! Addresses are the connection's peer: IPv4 addresses one by one, IPv6 by /64 (what one host
//! or customer usually gets). Behind a load balancer every request comes from its address, so
//! there the per-address limits belong on the balancer and the per-key limits here.

use std::any::Any;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::Extensions;
use actix_web::http::StatusCode;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use orchestrator_domain::policy::access::KeyId;

use crate::error::ApiError;

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

    fn quota(self) -> Option<Quota> {
        let per_sec = NonZeroU32::new(self.per_sec)?;
        let burst = NonZeroU32::new(self.burst.max(self.per_sec)).unwrap_or(per_sec);
        Some(Quota::per_second(per_sec).allow_burst(burst))
    }
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

/// The request-rate limits of one process (shared by every worker).
#[derive(Debug)]
pub struct RateLimits {
    per_key: Option<DefaultKeyedRateLimiter<KeyId>>,
    per_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    checks: AtomicU64,
}

impl RateLimits {
    /// Limits per operator key and per source address.
    pub fn new(per_key: Rate, per_address: Rate) -> Self {
        Self {
            per_key: per_key.quota().map(RateLimiter::keyed),
            per_address: per_address.quota().map(RateLimiter::keyed),
            checks: AtomicU64::new(0),
        }
    }

    /// No limits.
    pub fn off() -> Self {
        Self::new(Rate::OFF, Rate::OFF)
    }

    /// Takes one request from the bucket of `peer`'s address.
    ///
    /// # Errors
    /// A `429 rate_limited` when the bucket is empty.
    pub fn admit_address(&self, peer: Option<SocketAddr>) -> Result<(), ApiError> {
        self.check_address(peer.map(|peer| peer.ip()))
            .map_err(rate_limited)
    }

    /// Takes one request from the bucket of an operator key.
    ///
    /// # Errors
    /// A `429 rate_limited` when the bucket is empty.
    pub fn admit_key(&self, key: &KeyId) -> Result<(), ApiError> {
        self.check_key(key).map_err(rate_limited)
    }

    /// Takes one request from the bucket of `ip` (any transport).
    ///
    /// # Errors
    /// [`Limited`] when the bucket is empty.
    pub fn check_address(&self, ip: Option<IpAddr>) -> Result<(), Limited> {
        self.housekeeping();
        let (Some(limiter), Some(ip)) = (&self.per_address, ip) else {
            return Ok(());
        };
        limiter
            .check_key(&address_key(ip))
            .map_err(|not_until| Limited {
                who: "this address",
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            })
    }

    /// Takes one request from the bucket of `key` (any transport: a key's requests count
    /// together on REST, WebSocket handshakes and gRPC).
    ///
    /// # Errors
    /// [`Limited`] when the bucket is empty.
    pub fn check_key(&self, key: &KeyId) -> Result<(), Limited> {
        let Some(limiter) = &self.per_key else {
            return Ok(());
        };
        limiter.check_key(key).map_err(|not_until| Limited {
            who: "this API key",
            retry_after: not_until.wait_time_from(DefaultClock::default().now()),
        })
    }

    fn housekeeping(&self) {
        if !self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(HOUSEKEEPING_EVERY)
        {
            return;
        }
        if let Some(limiter) = &self.per_address {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.per_key {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

fn rate_limited(limited: Limited) -> ApiError {
    let secs = limited.retry_after_secs();
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!(
            "too many requests from {}; retry after {secs} s",
            limited.who
        ),
    )
    .with_retry_after(secs)
}

/// The address a limit counts: IPv4 as it is, IPv6 by its /64.
fn address_key(ip: IpAddr) -> IpAddr {
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

/// Concurrent connections per source address (0: no limit). Counted from accept to close; a
/// connection over the limit is answered `429 too_many_connections` and closed.
#[derive(Debug, Clone)]
pub struct ConnectionLimit {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// Held in a connection's data while it counts against its address. A connection the HTTP
/// server hands over (a WebSocket, whose handshake request then ends) keeps a clone for as long
/// as it lives: it still counts.
#[derive(Debug, Clone)]
pub struct Counted {
    _address: Arc<CountedAddress>,
}

#[derive(Debug)]
struct CountedAddress {
    address: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for CountedAddress {
    fn drop(&mut self) {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// Marks a connection accepted beyond its address's limit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OverConnectionLimit {
    pub(crate) max: usize,
}

impl ConnectionLimit {
    /// At most `max` concurrent connections per address; 0 turns the limit off.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            open: Arc::default(),
        }
    }

    /// Counts a new connection: hand to `HttpServer::on_connect`.
    pub fn on_connect(&self, connection: &dyn Any, data: &mut Extensions) {
        if self.max == 0 {
            return;
        }
        let Some(peer) = connection
            .downcast_ref::<actix_web::rt::net::TcpStream>()
            .and_then(|stream| stream.peer_addr().ok())
        else {
            return;
        };
        let address = address_key(peer.ip());
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = open.entry(address).or_insert(0);
        if *count >= self.max {
            data.insert(OverConnectionLimit { max: self.max });
            return;
        }
        *count += 1;
        data.insert(Counted {
            _address: Arc::new(CountedAddress {
                address,
                open: self.open.clone(),
            }),
        });
    }

    /// Connections open now from `ip` (for tests and metrics).
    pub fn open_from(&self, ip: IpAddr) -> usize {
        let open = self
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        open.get(&address_key(ip)).copied().unwrap_or(0)
    }
}

/// The refusal of a request on a connection over its address's limit.
pub(crate) fn too_many_connections(over: OverConnectionLimit) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_connections",
        format!(
            "this address already has {} open connections; close some and retry",
            over.max
        ),
    )
    .with_retry_after(1)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use orchestrator_domain::policy::access::{KeyEntry, Scope};

    use super::*;

    fn peer(ip: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(ip.parse().unwrap(), 40_000))
    }

    #[test]
    fn an_address_gets_its_burst_then_a_429_with_retry_after() {
        let limits = RateLimits::new(
            Rate::OFF,
            Rate {
                per_sec: 1,
                burst: 3,
            },
        );

        for _ in 0..3 {
            assert!(limits.admit_address(peer("10.0.0.1")).is_ok());
        }
        let refused = limits.admit_address(peer("10.0.0.1")).unwrap_err();

        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.code, "rate_limited");
        assert_eq!(refused.retry_after_secs(), Some(1));
        assert!(
            limits.admit_address(peer("10.0.0.2")).is_ok(),
            "others are not affected"
        );
    }

    #[test]
    fn ipv6_addresses_share_the_bucket_of_their_64() {
        let limits = RateLimits::new(
            Rate::OFF,
            Rate {
                per_sec: 1,
                burst: 1,
            },
        );

        assert!(limits.admit_address(peer("2001:db8:1:2::1")).is_ok());

        assert!(limits.admit_address(peer("2001:db8:1:2::ffff")).is_err());
        assert!(limits.admit_address(peer("2001:db8:1:3::1")).is_ok());
    }

    #[test]
    fn keys_have_buckets_of_their_own() {
        let limits = RateLimits::new(
            Rate {
                per_sec: 1,
                burst: 1,
            },
            Rate::OFF,
        );
        let one = KeyEntry::for_key("one", Scope::Write).id();
        let two = KeyEntry::for_key("two", Scope::Write).id();

        assert!(limits.admit_key(&one).is_ok());

        assert!(limits.admit_key(&one).is_err());
        assert!(limits.admit_key(&two).is_ok());
    }

    #[test]
    fn a_rate_of_zero_is_no_limit() {
        let limits = RateLimits::off();
        let key = KeyEntry::for_key("k", Scope::Write).id();

        for _ in 0..10_000 {
            assert!(limits.admit_address(peer("10.0.0.1")).is_ok());
            assert!(limits.admit_key(&key).is_ok());
        }
    }

    #[test]
    fn an_address_key_keeps_ipv4_and_cuts_ipv6_to_its_64() {
        assert_eq!(
            address_key(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))
        );
        assert_eq!(
            address_key("::ffff:192.0.2.7".parse().unwrap()),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))
        );
        assert_eq!(
            address_key("2001:db8:a:b:c:d:e:f".parse().unwrap()),
            "2001:db8:a:b::".parse::<IpAddr>().unwrap()
        );
    }
}
