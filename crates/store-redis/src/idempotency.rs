//! [`RedisIdempotency`]: idempotency keys shared by every instance.
//!
//! # Keys
//!
//! One hash per idempotency key, `<prefix>{idem:<key>}:req` (a key containing a brace is
//! hex-encoded inside the tag), with fields `state` (`in_progress` or `completed`),
//! `fingerprint`, and once completed `status`, `body` and, if any, `content_type`. It expires
//! after the lock ttl while in progress and after the retention once completed. The body is
//! stored as opaque bytes: no script decodes it.
//!
//! # Round trips
//!
//! One per operation: `begin`, `complete` and `abandon` are one Lua script each.

use std::time::Duration;

use async_trait::async_trait;
use domain::coordination::{IdempotencyBegin, IdempotencyStore, StoredResponse};
use domain::ports::StoreError;
use fred::bytes::Bytes;
use fred::types::scripts::Script;
use fred::types::Value;

use crate::client::Connection;
use crate::lease::{px, tag_safe};

/// KEYS: req. ARGV: fingerprint, lock ttl ms, attempt (unique per call). Returns
/// `{'started'}`, `{'mismatch'}`, `{'in_progress'}` or `{'completed', status, body,
/// content_type}` (content type last: a missing one may end the array early). A call fred
/// re-sends after a reconnect finds its own attempt in progress and is told `started` again,
/// not that its own request is in the way.
const BEGIN: &str = r"
local f = redis.call('HMGET', KEYS[1], 'state', 'fingerprint', 'status', 'body', 'content_type', 'attempt')
if not f[1] then
  redis.call('HSET', KEYS[1], 'state', 'in_progress', 'fingerprint', ARGV[1], 'attempt', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {'started'}
end
if f[2] ~= ARGV[1] then return {'mismatch'} end
if f[1] == 'in_progress' then
  if f[6] == ARGV[3] then return {'started'} end
  return {'in_progress'}
end
return {'completed', f[3], f[4], f[5]}
";

/// KEYS: req. ARGV: fingerprint, retention ms, status, body[, content type]. Stores the
/// response only if the key is in progress with this fingerprint; returns 1 if stored.
const COMPLETE: &str = r"
local f = redis.call('HMGET', KEYS[1], 'state', 'fingerprint')
if f[1] ~= 'in_progress' or f[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'completed', 'status', ARGV[3], 'body', ARGV[4])
if ARGV[5] then redis.call('HSET', KEYS[1], 'content_type', ARGV[5]) end
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
                &self.conn.client,
                vec![self.key(key)],
                vec![
                    fingerprint.to_owned(),
                    px(lock_ttl).to_string(),
                    attempt.to_owned(),
                ],
            )
            .await
            .map_err(|err| self.conn.failed(err))?;
        parse_begin(reply)
    }
}

/// Idempotency keys in Redis; see the [module docs](self) for keys and round trips.
#[derive(Debug, Clone)]
pub struct RedisIdempotency {
    conn: Connection,
    begin: Script,
    complete: Script,
    abandon: Script,
}

impl RedisIdempotency {
    /// Idempotency keys on `conn`.
    pub fn new(conn: Connection) -> Self {
        Self {
            conn,
            begin: Script::from_lua(BEGIN),
            complete: Script::from_lua(COMPLETE),
            abandon: Script::from_lua(ABANDON),
        }
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
        response: StoredResponse,
        retention: Duration,
    ) -> Result<(), StoreError> {
        self.conn.check()?;
        let mut args: Vec<Value> = vec![
            fingerprint.into(),
            px(retention).into(),
            i64::from(response.status).into(),
            Value::Bytes(Bytes::from(response.body)),
        ];
        if let Some(content_type) = response.content_type {
            args.push(content_type.into());
        }
        let _: i64 = self
            .complete
            .evalsha_with_reload(&self.conn.client, vec![self.key(key)], args)
            .await
            .map_err(|err| self.conn.failed(err))?;
        Ok(())
    }

    async fn abandon(&self, key: &str, fingerprint: &str) -> Result<(), StoreError> {
        self.conn.check()?;
        let _: i64 = self
            .abandon
            .evalsha_with_reload(
                &self.conn.client,
                vec![self.key(key)],
                vec![fingerprint.to_owned()],
            )
            .await
            .map_err(|err| self.conn.failed(err))?;
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
            let status = fields
                .next()
                .and_then(|value| value.as_string())
                .and_then(|status| status.parse::<u16>().ok())
                .ok_or_else(|| corrupt("status"))?;
            let body = fields
                .next()
                .and_then(Value::into_owned_bytes)
                .ok_or_else(|| corrupt("body"))?;
            let content_type = fields
                .next()
                .filter(|value| !value.is_null())
                .map(|value| value.as_string().ok_or_else(|| corrupt("content type")))
                .transpose()?;
            Ok(IdempotencyBegin::Completed(StoredResponse {
                status,
                content_type,
                body,
            }))
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
        let store = RedisIdempotency::new(conn);
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
