//! [`RedisWebhookDedupe`]: webhook event ids already delivered, shared by every instance.
//!
//! # Keys
//!
//! `<prefix>{webhook:<event id>}:seen`, expiring after the dedupe ttl (an id containing a brace
//! is hex-encoded inside the tag).
//!
//! # Round trips
//!
//! One per operation: `first_delivery` is one script (`SET <delivery> NX PX <ttl>`, or the key
//! already holds this very delivery: a re-sent command), `forget` is `DEL`.

use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::KeysInterface;
use fred::types::scripts::Script;
use orchestrator_domain::coordination::WebhookDedupe;
use orchestrator_domain::ports::StoreError;

use crate::client::Connection;
use crate::lease::{px, tag_safe};
use crate::metered::Timed;

/// Webhook dedupe in Redis; see the [module docs](self) for keys and round trips.
#[derive(Debug, Clone)]
pub struct RedisWebhookDedupe {
    conn: Connection,
    first_delivery: Script,
}

impl RedisWebhookDedupe {
    /// Dedupe on `conn`.
    pub fn new(conn: Connection) -> Self {
        Self {
            conn,
            first_delivery: Script::from_lua(FIRST_DELIVERY),
        }
    }

    fn key(&self, event_id: &str) -> String {
        self.conn
            .keys
            .tagged(&format!("webhook:{}", tag_safe(event_id)), "seen")
    }
}

/// KEYS: seen. ARGV: delivery (unique per call), ttl ms. Returns 1 for a first delivery: the
/// key was free, or holds this very delivery (a call fred re-sent after a reconnect, which
/// must not turn the webhook into a "duplicate" of itself).
const FIRST_DELIVERY: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
";

impl RedisWebhookDedupe {
    /// `first_delivery` as delivery `delivery` (the same delivery re-sent is recognised).
    async fn first_delivery_as(
        &self,
        event_id: &str,
        ttl: Duration,
        delivery: &str,
    ) -> Result<bool, StoreError> {
        let first: i64 = self
            .first_delivery
            .evalsha_with_reload(
                &self.conn.client(),
                vec![self.key(event_id)],
                vec![delivery.to_owned(), px(ttl).to_string()],
            )
            .timed(&self.conn, "script:webhook_dedupe")
            .await?;
        Ok(first == 1)
    }
}

#[async_trait]
impl WebhookDedupe for RedisWebhookDedupe {
    async fn first_delivery(&self, event_id: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.conn.check()?;
        self.first_delivery_as(event_id, ttl, &uuid::Uuid::new_v4().to_string())
            .await
    }

    async fn forget(&self, event_id: &str) -> Result<(), StoreError> {
        self.conn.check()?;
        let _: i64 = self
            .conn
            .client()
            .del(self.key(event_id))
            .timed(&self.conn, "webhook_forget")
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod resend_tests {
    use super::*;

    #[tokio::test]
    async fn a_first_delivery_resent_after_a_reconnect_is_still_the_first() {
        let (conn, _server) = crate::client::test_connection().await;
        let dedupe = RedisWebhookDedupe::new(conn);
        let ttl = Duration::from_secs(30);

        let first = dedupe.first_delivery_as("EV_1", ttl, "d-1").await.unwrap();
        let resent = dedupe.first_delivery_as("EV_1", ttl, "d-1").await.unwrap();
        let redelivered = dedupe.first_delivery_as("EV_1", ttl, "d-2").await.unwrap();

        assert!(first && resent);
        assert!(!redelivered, "LiveKit's redelivery is a duplicate");
    }
}
