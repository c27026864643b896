//! [`RedisIdempotency`]: idempotency keys shared by every instance.
//!
//! # Keys
//!
//! One hash per idempotency key, `<prefix>{idem:<key>}:req` (a key containing a brace is
//! hex-encoded inside the tag), with fields `state` (`in_progress` or `completed`),
//! `fingerprint`, and once completed `answer`: the transport's encoded answer, sealed
//! (AES-256-GCM, see `sealing`) because it can hold a bearer token. It expires after the lock
//! ttl while in progress and after the retention once completed. No script decodes the answer.
//!
//! # Round trips
//!
//! One per operation: `begin`, `complete` and `abandon` are one Lua script each.

use std::time::Duration;

use async_trait::async_trait;
use fred::bytes::Bytes;
use fred::types::scripts::Script;
use fred::types::Value;
use orchestrator_domain::coordination::{IdempotencyBegin, IdempotencyStore, StoredAnswer};
use orchestrator_domain::ports::StoreError;

use crate::client::{ConnectError, Connection};
use crate::lease::{px, tag_safe};
use crate::metered::Timed;
use crate::sealing::Sealer;

/// KEYS: req. ARGV: fingerprint, lock ttl ms, attempt (unique per call). Returns
/// `{'started'}`, `{'mismatch'}`, `{'in_progress'}` or `{'completed', answer}`. A call fred
/// re-sends after a reconnect finds its own attempt in progress and is told `started` again,
/// not that its own request is in the way.
const BEGIN: &str = r"
local f = redis.call('HMGET', KEYS[1], 'state', 'fingerprint', 'answer', 'attempt')
if not f[1] then
  redis.call('HSET', KEYS[1], 'state', 'in_progress', 'fingerprint', ARGV[1], 'attempt', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {'started'}
end
if f[2] ~= ARGV[1] then return {'mismatch'} end
if f[1] == 'in_progress' then
  if f[4] == ARGV[3] then return {'started'} end
  return {'in_progress'}
end
return {'completed', f[3]}
";

/// KEYS: req. ARGV: fingerprint, retention ms, sealed answer. Stores the answer only if the
/// key is in progress with this fingerprint; returns 1 if stored.
const COMPLETE: &str = r"
local f = redis.call('HMGET', KEYS[1], 'state', 'fingerprint')
if f[1] ~= 'in_progress' or f[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'completed', 'answer', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

/// KEYS: req. ARGV: fingerprint. Deletes the key only if it is in progress with this
/// fingerprint; returns 1 if deleted.
const ABANDON: &str = r"
local f = redis.call('HMGET', KEYS[1], 'state', 'fingerprint')
if f[1] == 'in_progress' and f[2] == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
";

impl RedisIdempotency {
    /// `begin` as attempt `attempt` (the same attempt re-sent is recognised).
    async fn begin_attempt(
        &self,
        key: &str,
        fingerprint: &str,
        lock_ttl: Duration,
        attempt: &str,
    ) -> Result<IdempotencyBegin, StoreError> {
        let reply: Vec<Value> = self
            .begin
            .evalsha_with_reload(
                &self.conn.client(),
                vec![self.key(key)],
                vec![
                    fingerprint.to_owned(),
                    px(lock_ttl).to_string(),
                    attempt.to_owned(),
                ],
            )
            .timed(&self.conn, "script:idempotency_begin")
            .await?;
        match parse_begin(reply)? {
            IdempotencyBegin::Completed(StoredAnswer(sealed)) => Ok(IdempotencyBegin::Completed(
                StoredAnswer(self.sealer.open(&sealed)?),
            )),
            other @ (IdempotencyBegin::Started
            | IdempotencyBegin::InProgress
            | IdempotencyBegin::Mismatch) => Ok(other),
        }
    }
}

/// Idempotency keys in Redis; see the [module docs](self) for keys and round trips.
#[derive(Debug, Clone)]
pub struct RedisIdempotency {
    conn: Connection,
    sealer: std::sync::Arc<Sealer>,
    begin: Script,
    complete: Script,
    abandon: Script,
}

impl RedisIdempotency {
    /// Idempotency keys on `conn`, answers sealed with a key derived from `secret` (the same
    /// on every instance: the LiveKit API secret serves).
    ///
    /// # Errors
    /// [`ConnectError::Config`] if no key can be derived from `secret` (not expected).
    pub fn new(conn: Connection, secret: &[u8]) -> Result<Self, ConnectError> {
        let sealer = Sealer::new(secret, crate::sealing::IDEMPOTENCY)
            .ok_or_else(|| ConnectError::Config("cannot derive the idempotency key".into()))?;
        Ok(Self {
            conn,
            sealer: std::sync::Arc::new(sealer),
            begin: Script::from_lua(BEGIN),
            complete: Script::from_lua(COMPLETE),
            abandon: Script::from_lua(ABANDON),
        })
    }

    fn key(&self, key: &str) -> String {
        self.conn
            .keys
            .tagged(&format!("idem:{}", tag_safe(key)), "req")
    }
}

#[async_trait]
impl IdempotencyStore for RedisIdempotency {
    async fn begin(
        &self,
        key: &str,
        fingerprint: &str,
        lock_ttl: Duration,
    ) -> Result<IdempotencyBegin, StoreError> {
        self.conn.check()?;
        self.begin_attempt(
            key,
            fingerprint,
            lock_ttl,
            &uuid::Uuid::new_v4().to_string(),
        )
        .await
    }

    async fn complete(
        &self,
        key: &str,
        fingerprint: &str,
        answer: StoredAnswer,
        retention: Duration,
    ) -> Result<(), StoreError> {
        self.conn.check()?;
        let args: Vec<Value> = vec![
            fingerprint.into(),
            px(retention).into(),
            Value::Bytes(Bytes::from(self.sealer.seal(&answer.0)?)),
        ];
        let _: i64 = self
            .complete
            .evalsha_with_reload(&self.conn.client(), vec![self.key(key)], args)
            .timed(&self.conn, "script:idempotency_complete")
            .await?;
        Ok(())
    }

    async fn abandon(&self, key: &str, fingerprint: &str) -> Result<(), StoreError> {
        self.conn.check()?;
        let _: i64 = self
            .abandon
            .evalsha_with_reload(
                &self.conn.client(),
                vec![self.key(key)],
                vec![fingerprint.to_owned()],
            )
            .timed(&self.conn, "script:idempotency_abandon")
            .await?;
        Ok(())
    }
}

fn parse_begin(reply: Vec<Value>) -> Result<IdempotencyBegin, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("idempotency begin: {what}"));
    let mut fields = reply.into_iter();
    let outcome = fields
        .next()
        .and_then(|value| value.as_string())
        .ok_or_else(|| corrupt("empty reply"))?;
    match outcome.as_str() {
        "started" => Ok(IdempotencyBegin::Started),
        "in_progress" => Ok(IdempotencyBegin::InProgress),
        "mismatch" => Ok(IdempotencyBegin::Mismatch),
        "completed" => {
            let answer = fields
                .next()
                .and_then(Value::into_owned_bytes)
                .ok_or_else(|| corrupt("answer"))?;
            Ok(IdempotencyBegin::Completed(StoredAnswer(answer)))
        }
        other => Err(corrupt(other)),
    }
}

#[cfg(test)]
mod resend_tests {
    use super::*;

    #[tokio::test]
    async fn a_begin_resent_after_a_reconnect_is_still_started_but_a_second_caller_is_not() {
        let (conn, _server) = crate::client::test_connection().await;
        let store = RedisIdempotency::new(conn, b"secret").unwrap();
        let ttl = Duration::from_secs(30);

        let first = store
            .begin_attempt("k", "fp", ttl, "attempt-1")
            .await
            .unwrap();
        let resent = store
            .begin_attempt("k", "fp", ttl, "attempt-1")
            .await
            .unwrap();
        let other = store
            .begin_attempt("k", "fp", ttl, "attempt-2")
            .await
            .unwrap();

        assert_eq!(first, IdempotencyBegin::Started);
        assert_eq!(resent, IdempotencyBegin::Started);
        assert_eq!(other, IdempotencyBegin::InProgress);
    }
}
