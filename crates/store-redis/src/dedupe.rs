//! [`RedisWebhookDedupe`]: webhook event ids already delivered, shared by every instance.
//!
//! # Keys
//!
//! `<prefix>{webhook:<event id>}:seen`, expiring after the dedupe ttl (an id containing a brace
//! is hex-encoded inside the tag).
//!
//! # Round trips
//!
//! One per operation: `first_delivery` is `SET … 1 NX PX <ttl>` (set means first), `forget`
//! is `DEL`.

use std::time::Duration;

use async_trait::async_trait;
use domain::coordination::WebhookDedupe;
use domain::ports::StoreError;
use fred::prelude::KeysInterface;
use fred::types::{Expiration, SetOptions};

use crate::client::{store_error, Connection};
use crate::lease::{px, tag_safe};

/// Webhook dedupe in Redis; see the [module docs](self) for keys and round trips.
#[derive(Debug, Clone)]
pub struct RedisWebhookDedupe {
    conn: Connection,
}

impl RedisWebhookDedupe {
    /// Dedupe on `conn`.
    pub fn new(conn: Connection) -> Self {
        Self { conn }
    }

    fn key(&self, event_id: &str) -> String {
        self.conn
            .keys
            .tagged(&format!("webhook:{}", tag_safe(event_id)), "seen")
    }
}

#[async_trait]
impl WebhookDedupe for RedisWebhookDedupe {
    async fn first_delivery(&self, event_id: &str, ttl: Duration) -> Result<bool, StoreError> {
        let set: Option<String> = self
            .conn
            .client
            .set(
                self.key(event_id),
                1,
                Some(Expiration::PX(px(ttl))),
                Some(SetOptions::NX),
                false,
            )
            .await
            .map_err(store_error)?;
        Ok(set.is_some())
    }

    async fn forget(&self, event_id: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .conn
            .client
            .del(self.key(event_id))
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
