//! The storage ports, all on one backend: in memory (no `REDIS_URL`) or Redis. `secret` (the
//! LiveKit secret every instance shares) seals what Redis must not show: idempotency answers,
//! stream keys and RTMP targets.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use orchestrator_domain::broadcast::BroadcastRepository;
use orchestrator_domain::coordination::{IdempotencyStore, LeaseStore, WebhookDedupe};
use orchestrator_domain::ports::{EventLog, StreamRepository};
use orchestrator_store_memory::coordination::MemoryCoordination;
use orchestrator_store_memory::{MemoryStore, MemoryStoreConfig};
use orchestrator_store_redis::broadcast::RedisBroadcasts;
use orchestrator_store_redis::dedupe::RedisWebhookDedupe;
use orchestrator_store_redis::idempotency::RedisIdempotency;
use orchestrator_store_redis::lease::RedisLeases;
use orchestrator_store_redis::{Connection, RedisConfig, RedisStore};

use crate::settings::Settings;

/// The storage ports.
#[derive(Clone)]
pub(crate) struct Stores {
    pub(crate) streams: Arc<dyn StreamRepository>,
    pub(crate) events: Arc<dyn EventLog>,
    pub(crate) idempotency: Arc<dyn IdempotencyStore>,
    pub(crate) dedupe: Arc<dyn WebhookDedupe>,
    pub(crate) leases: Arc<dyn LeaseStore>,
    /// Streams' ingests and outputs.
    pub(crate) broadcasts: Arc<dyn BroadcastRepository>,
    /// The Redis connection behind them, if they are on Redis: each HTTP worker opens a
    /// client of its own on it.
    pub(crate) redis: Option<Connection>,
}

/// The in-memory store, or Redis when a URL is configured. `secret` (shared by every
/// instance) keys the sealing of idempotency answers at rest.
pub(crate) async fn connect(settings: &Settings, secret: &[u8]) -> anyhow::Result<Stores> {
    let url = settings.redis.url.trim();
    if url.is_empty() {
        return Ok(in_memory(settings));
    }
    let config = RedisConfig {
        key_prefix: settings.redis.key_prefix.clone(),
        command_timeout: Duration::from_millis(settings.redis.command_timeout_ms),
        max_events_per_stream: settings.store.max_events_per_stream as u64,
        stopped_retention: settings.store.stopped_retention(),
        ..RedisConfig::new(url)
    };
    let store = RedisStore::connect(config)
        .await
        .context("connecting to Redis (REDIS_URL)")?;
    tracing::info!(prefix = %settings.redis.key_prefix, "state in Redis");
    // Its families then show from the start; on the in-memory store they are declared only.
    orchestrator_store_redis::metered::register();
    let connection = store.connection().clone();
    let store = Arc::new(store);
    Ok(Stores {
        streams: store.clone(),
        events: store,
        broadcasts: Arc::new(RedisBroadcasts::new(connection.clone(), secret)?),
        idempotency: Arc::new(RedisIdempotency::new(connection.clone(), secret)?),
        dedupe: Arc::new(RedisWebhookDedupe::new(connection.clone())),
        leases: Arc::new(RedisLeases::new(connection.clone())),
        redis: Some(connection),
    })
}

fn in_memory(settings: &Settings) -> Stores {
    let store = Arc::new(MemoryStore::new(MemoryStoreConfig {
        max_events_per_stream: settings.store.max_events_per_stream,
        stopped_retention: settings.store.stopped_retention().unwrap_or(Duration::MAX),
        ..MemoryStoreConfig::default()
    }));
    let coordination = Arc::new(MemoryCoordination::new());
    Stores {
        streams: store.clone(),
        events: store.clone(),
        broadcasts: store,
        idempotency: coordination.clone(),
        dedupe: coordination.clone(),
        leases: coordination,
        redis: None,
    }
}
