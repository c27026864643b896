//! [`RedisLeases`]: fenced leases shared by every instance.
//!
//! # Keys
//!
//! Both keys of a lease carry its name as hash tag, so each script touches one slot:
//!
//! - `<prefix>{lease:<name>}:holder`: `"<holder>|<token>"`, expiring with the lease (`PX`).
//! - `<prefix>{lease:<name>}:fence`: the last token granted (`INCR`), never expiring, so a
//!   later grant always gets a higher token than every earlier one, even after the holder key
//!   expired.
//!
//! # Round trips
//!
//! One per operation: `acquire`, `renew` and `release` are one Lua script each;
//! `is_current` and `holder` are one `GET` each.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::KeysInterface;
use fred::types::scripts::Script;
use orchestrator_domain::coordination::{LeaseGrant, LeaseStore};
use orchestrator_domain::ports::StoreError;

use crate::client::Connection;
use crate::metered::Timed;

/// KEYS: holder, fence. ARGV: holder, ttl ms. Returns the token, or nil if another holder has
/// the lease. The holder is matched up to the last `|`, so holders may contain `|`.
const ACQUIRE: &str = r"
local current = redis.call('GET', KEYS[1])
if current then
  local holder, token = string.match(current, '^(.*)|(%d+)$')
  if holder == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(token)
  end
  return false
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
return token
";

/// KEYS: holder. ARGV: `holder|token`, ttl ms. Returns 1 if extended, 0 if lost.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// KEYS: holder. ARGV: `holder|token`. Deletes the holder key only if it is still this grant.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
";

/// Leases in Redis; see the [module docs](self) for keys and round trips.
#[derive(Debug, Clone)]
pub struct RedisLeases {
    conn: Connection,
    acquire: Script,
    renew: Script,
    release: Script,
}

impl RedisLeases {
    /// Leases on `conn`.
    pub fn new(conn: Connection) -> Self {
        Self {
            conn,
            acquire: Script::from_lua(ACQUIRE),
            renew: Script::from_lua(RENEW),
            release: Script::from_lua(RELEASE),
        }
    }

    fn key(&self, name: &str, which: &str) -> String {
        self.conn
            .keys
            .tagged(&format!("lease:{}", tag_safe(name)), which)
    }
}

#[async_trait]
impl LeaseStore for RedisLeases {
    async fn acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<LeaseGrant>, StoreError> {
        self.conn.check()?;
        let token: Option<u64> = self
            .acquire
            .evalsha_with_reload(
                &self.conn.client(),
                vec![self.key(name, "holder"), self.key(name, "fence")],
                vec![holder.to_owned(), px(ttl).to_string()],
            )
            .timed(&self.conn, "script:lease_acquire")
            .await?;
        Ok(token.map(|token| LeaseGrant { token }))
    }

    async fn renew(
        &self,
        name: &str,
        holder: &str,
        token: u64,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.conn.check()?;
        let renewed: i64 = self
            .renew
            .evalsha_with_reload(
                &self.conn.client(),
                vec![self.key(name, "holder")],
                vec![format!("{holder}|{token}"), px(ttl).to_string()],
            )
            .timed(&self.conn, "script:lease_renew")
            .await?;
        Ok(renewed == 1)
    }

    async fn release(&self, name: &str, holder: &str, token: u64) -> Result<(), StoreError> {
        self.conn.check()?;
        let _: i64 = self
            .release
            .evalsha_with_reload(
                &self.conn.client(),
                vec![self.key(name, "holder")],
                vec![format!("{holder}|{token}")],
            )
            .timed(&self.conn, "script:lease_release")
            .await?;
        Ok(())
    }

    async fn is_current(&self, name: &str, token: u64) -> Result<bool, StoreError> {
        Ok(self
            .current(name)
            .await?
            .is_some_and(|(_, current)| current == token.to_string()))
    }

    async fn holder(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.current(name).await?.map(|(holder, _)| holder))
    }
}

impl RedisLeases {
    /// The current grant of `name`: its holder and its token, as written.
    async fn current(&self, name: &str) -> Result<Option<(String, String)>, StoreError> {
        self.conn.check()?;
        let current: Option<String> = self
            .conn
            .client()
            .get(self.key(name, "holder"))
            .timed(&self.conn, "lease_get")
            .await?;
        let Some(current) = current else {
            return Ok(None);
        };
        let (holder, token) = current
            .rsplit_once('|')
            .ok_or_else(|| StoreError::Corrupt(format!("lease holder {current:?}")))?;
        Ok(Some((holder.to_owned(), token.to_owned())))
    }
}

/// The longest ttl sent to Redis (100 years), which refuses expiry times that overflow.
const MAX_PX: i64 = 100 * 365 * 24 * 3600 * 1000;

/// `ttl` in whole milliseconds for `PX`/`PEXPIRE`: at least 1 (Redis refuses 0), at most
/// [`MAX_PX`].
pub(crate) fn px(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis())
        .unwrap_or(MAX_PX)
        .clamp(1, MAX_PX)
}

/// `part` made safe inside a hash tag, which ends at the first `}`: as is if it has no brace
/// (the common case, readable in `redis-cli`), else `%` and its hex. Names starting with `%`
/// are hex-encoded too, so two different names never share a key.
pub(crate) fn tag_safe(part: &str) -> Cow<'_, str> {
    if part.contains(['{', '}']) || part.starts_with('%') {
        let mut encoded = String::with_capacity(1 + 2 * part.len());
        encoded.push('%');
        for byte in part.bytes() {
            // Writing to a String cannot fail.
            let _ = write!(encoded, "{byte:02x}");
        }
        Cow::Owned(encoded)
    } else {
        Cow::Borrowed(part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_without_braces_are_kept_readable() {
        assert_eq!(tag_safe("stream:42"), "stream:42");
    }

    #[test]
    fn braces_never_reach_the_hash_tag() {
        let safe = tag_safe("a}b{c");

        assert!(!safe.contains(['{', '}']));
        assert_eq!(safe, "%617d627b63");
    }

    #[test]
    fn an_encoded_name_and_a_raw_name_never_collide() {
        let encoded = tag_safe("}");

        assert_ne!(tag_safe(&encoded), encoded);
    }

    #[test]
    fn ttls_round_to_at_least_one_millisecond() {
        assert_eq!(px(Duration::ZERO), 1);
        assert_eq!(px(Duration::from_micros(1500)), 1);
        assert_eq!(px(Duration::from_secs(2)), 2000);
        assert_eq!(px(Duration::MAX), MAX_PX);
    }
}
