//! Limits on what one client may take from the HTTP port: requests per second per operator key
//! and per source address (the domain's [`RateLimits`], shared with gRPC), and concurrent
//! connections per source address (counted here: connections are the HTTP server's). Beyond
//! them a client gets `429` with `Retry-After` and the error envelope; nothing else is slowed
//! down. Addresses are grouped as the rate limits group them ([`address_key`]).

use std::any::Any;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use actix_web::dev::Extensions;
use actix_web::http::StatusCode;
use orchestrator_domain::policy::access::KeyId;
use orchestrator_domain::policy::limits::{address_key, Limited, RateLimits};

use crate::error::ApiError;

/// The rate limits as the HTTP port applies them: a refusal is its `429 rate_limited`.
pub trait Admit {
    /// Takes one request from the bucket of `peer`'s address.
    ///
    /// # Errors
    /// A `429 rate_limited` when the bucket is empty.
    fn admit_address(&self, peer: Option<SocketAddr>) -> Result<(), ApiError>;

    /// Takes one request from the bucket of an operator key.
    ///
    /// # Errors
    /// A `429 rate_limited` when the bucket is empty.
    fn admit_key(&self, key: &KeyId) -> Result<(), ApiError>;
}

impl Admit for RateLimits {
    fn admit_address(&self, peer: Option<SocketAddr>) -> Result<(), ApiError> {
        self.check_address(peer.map(|peer| peer.ip()))
            .map_err(rate_limited)
    }

    fn admit_key(&self, key: &KeyId) -> Result<(), ApiError> {
        self.check_key(key).map_err(rate_limited)
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
    use orchestrator_domain::policy::access::{KeyEntry, Scope};
    use orchestrator_domain::policy::limits::Rate;

    use super::*;

    const ONE_A_SECOND: Rate = Rate {
        per_sec: 1,
        burst: 1,
    };

    fn peer(ip: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(ip.parse().unwrap(), 40_000))
    }

    #[test]
    fn an_address_over_its_rate_gets_a_429_with_retry_after() {
        let limits = RateLimits::new(Rate::OFF, ONE_A_SECOND);
        assert!(limits.admit_address(peer("10.0.0.1")).is_ok());

        let refused = limits.admit_address(peer("10.0.0.1")).unwrap_err();

        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.code, "rate_limited");
        assert_eq!(refused.retry_after_secs(), Some(1));
        assert!(
            refused.message.contains("this address"),
            "{}",
            refused.message
        );
    }

    #[test]
    fn a_key_over_its_rate_gets_a_429_naming_the_key() {
        let limits = RateLimits::new(ONE_A_SECOND, Rate::OFF);
        let key = KeyEntry::for_key("k", Scope::Write).id();
        assert!(limits.admit_key(&key).is_ok());

        let refused = limits.admit_key(&key).unwrap_err();

        assert_eq!(refused.code, "rate_limited");
        assert!(
            refused.message.contains("this API key"),
            "{}",
            refused.message
        );
    }
}
