//! The Redis connection: one fred client for commands, configured to fail fast while Redis is
//! unreachable (no queue grows without bound), with a command timeout, and reconnecting by
//! itself with capped backoff.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use fred::prelude::{Builder, Client, ClientLike, Config, ReconnectPolicy};
use fred::types::config::{ConnectionConfig, PerformanceConfig};
use orchestrator_domain::ports::StoreError;

use crate::breaker::Breaker;

/// How to reach Redis and how to name keys.
#[derive(Clone)]
pub struct RedisConfig {
    /// `redis://[user:pass@]host:port[/db]`, or `redis-cluster://host:port?node=host:port&…`
    /// for a Redis Cluster. May contain a password: never logged.
    pub url: String,
    /// Prepended to every key and channel, so several deployments can share one Redis.
    pub key_prefix: String,
    /// Budget of one command; a command that takes longer fails (503), never waits forever.
    pub command_timeout: Duration,
    /// Budget of establishing a connection.
    pub connect_timeout: Duration,
    /// Events kept per stream in its event log (`XADD … MAXLEN ~`).
    pub max_events_per_stream: u64,
    /// How long a stopped stream's keys (state, participants, events) live after it stopped;
    /// `None` keeps them for ever.
    pub stopped_retention: Option<Duration>,
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("key_prefix", &self.key_prefix)
            .field("command_timeout", &self.command_timeout)
            .field("max_events_per_stream", &self.max_events_per_stream)
            .field("stopped_retention", &self.stopped_retention)
            .finish_non_exhaustive()
    }
}

impl RedisConfig {
    /// Defaults for `url`: prefix `lso:`, 2 s commands, 10 000 events per stream.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            key_prefix: "lso:".into(),
            command_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            max_events_per_stream: 10_000,
            stopped_retention: None,
        }
    }
}

/// Why connecting failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL or options are invalid.
    #[error("invalid Redis configuration: {0}")]
    Config(String),
    /// Redis did not answer.
    #[error("cannot reach Redis: {0}")]
    Unreachable(String),
}

/// A connected client plus the key scheme, failing fast while Redis is down.
#[derive(Clone)]
pub struct Connection {
    /// Commands.
    pub client: Client,
    /// Key and channel names.
    pub keys: Keys,
    /// The configuration used.
    pub config: RedisConfig,
    breaker: Arc<Breaker>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// A fred builder for `config`: fail fast while disconnected, a command timeout, endless
/// reconnection with capped exponential backoff.
///
/// # Errors
/// [`ConnectError::Config`] for an invalid URL.
pub fn builder(config: &RedisConfig) -> Result<Builder, ConnectError> {
    let mut fred_config =
        Config::from_url(&config.url).map_err(|err| ConnectError::Config(err.to_string()))?;
    fred_config.fail_fast = true;
    let mut builder = Builder::from_config(fred_config);
    builder
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
        .set_performance_config(PerformanceConfig {
            default_command_timeout: config.command_timeout,
            ..PerformanceConfig::default()
        })
        .set_connection_config(ConnectionConfig {
            connection_timeout: config.connect_timeout,
            internal_command_timeout: config.command_timeout,
            // fred re-sends an in-flight command after a reconnect; our writes carry their
            // event id, so a re-sent write is recognised rather than applied twice.
            max_command_attempts: 2,
            max_command_buffer_len: 10_000,
            ..ConnectionConfig::default()
        });
    Ok(builder)
}

impl Connection {
    /// Connects and waits (bounded by the connect timeout) for the first connection.
    ///
    /// # Errors
    /// [`ConnectError`] when the URL is invalid or Redis does not answer.
    pub async fn connect(config: RedisConfig) -> Result<Self, ConnectError> {
        let client = builder(&config)?
            .build()
            .map_err(|err| ConnectError::Config(err.to_string()))?;
        let connected = tokio::time::timeout(config.connect_timeout * 2, client.init()).await;
        match connected {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => return Err(ConnectError::Unreachable(err.to_string())),
            Err(_) => return Err(ConnectError::Unreachable("connection timed out".into())),
        }
        crate::metered::breaker_open(false);
        Ok(Self {
            client,
            keys: Keys::new(&config.key_prefix),
            config,
            breaker: Arc::default(),
        })
    }

    /// Whether a command should be sent now; every store operation asks first.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] at once while Redis is known to be unreachable.
    pub fn check(&self) -> Result<(), StoreError> {
        self.breaker.check(&self.client)
    }

    /// Maps a failed command to a store error, opening the breaker on a timeout or I/O failure.
    pub fn failed(&self, err: fred::error::Error) -> StoreError {
        self.breaker.failed(&self.client, &err);
        store_error(err)
    }

    /// Closes the connection.
    pub async fn close(&self) {
        let _ = self.client.quit().await;
    }
}

/// Sorts a fred error into the domain's store errors: a reply we cannot read is `Corrupt`
/// (500); everything else (I/O, timeouts, cluster moves, Redis restarting) may be fixed by a
/// retry and is `Unavailable` (503).
pub fn store_error(err: fred::error::Error) -> StoreError {
    use fred::error::ErrorKind;
    // fred's error kinds depend on its features, so only the unreadable ones are named.
    if matches!(
        err.kind(),
        ErrorKind::Parse | ErrorKind::Protocol | ErrorKind::InvalidArgument
    ) {
        StoreError::Corrupt(err.to_string())
    } else {
        StoreError::Unavailable(err.to_string())
    }
}

/// Key and channel names. Every key of one stream carries the stream id as hash tag
/// (`<prefix>{<id>}:…`), so each script touches one slot and runs unchanged on Redis Cluster.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix`.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A key in the slot of `tag`: `<prefix>{<tag>}:<name>`.
    pub fn tagged(&self, tag: &str, name: &str) -> String {
        format!("{}{{{tag}}}:{name}", self.prefix)
    }
}

/// Test support: a connection to a test Redis under a key prefix of its own, and the guard
/// that keeps that Redis alive.
#[cfg(test)]
pub(crate) async fn test_connection() -> (Connection, redis_harness::RedisServer) {
    let server = redis_harness::shared_or_owned();
    let conn = Connection::connect(RedisConfig {
        key_prefix: redis_harness::unique_prefix(),
        ..RedisConfig::new(server.url())
    })
    .await
    .expect("connect to the test Redis");
    (conn, server)
}
