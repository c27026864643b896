//! The Redis connection: one fred client for commands, configured to fail fast while Redis is
//! unreachable (no queue grows without bound), with a command timeout, and reconnecting by
//! itself with capped backoff; plus, on threads that ask for one, a client of that thread's
//! own (see [`Connection::open_thread_client`]).

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Commands from any thread; see [`Connection::client`].
    shared: Client,
    /// Tells this connection's thread clients from another connection's.
    id: u64,
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

/// The URL schemes fred reads, without TLS: this build has no TLS support for Redis, and fred
/// would then connect to a `rediss://` server in plain text rather than refuse.
const SCHEMES: [&str; 6] = [
    "redis",
    "redis-cluster",
    "redis-sentinel",
    "valkey",
    "valkey-cluster",
    "valkey-sentinel",
];

/// Checks `url` as [`builder`] reads it, without connecting (what `check-config` runs).
/// The error never repeats the URL: it may hold a password.
///
/// # Errors
/// [`ConnectError::Config`] when the URL is not one fred can use, or asks for TLS.
pub fn check_url(url: &str) -> Result<(), ConnectError> {
    fred_config(url).map(drop)
}

fn fred_config(url: &str) -> Result<Config, ConnectError> {
    let scheme = url
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some(scheme) if SCHEMES.contains(&scheme) => {}
        Some(scheme) if scheme.starts_with("rediss") || scheme.starts_with("valkeys") => {
            return Err(ConnectError::Config(
                "TLS (rediss://) is not supported by this build".into(),
            ));
        }
        _ => {
            return Err(ConnectError::Config(
                "the URL must start with redis://, redis-cluster:// or redis-sentinel://".into(),
            ));
        }
    }
    // Parsed here first for url's own words ("invalid port number"): fred reports its errors
    // by their Debug name.
    url::Url::parse(url).map_err(|err| ConnectError::Config(err.to_string()))?;
    Config::from_url(url).map_err(|err| ConnectError::Config(err.details().to_string()))
}

/// A fred builder for `config`: fail fast while disconnected, a command timeout, endless
/// reconnection with capped exponential backoff.
///
/// # Errors
/// [`ConnectError::Config`] for an invalid URL (see [`check_url`]).
pub fn builder(config: &RedisConfig) -> Result<Builder, ConnectError> {
    let mut fred_config = fred_config(&config.url)?;
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
        let client = connect_client(&config).await?;
        crate::metered::breaker_open(false);
        Ok(Self {
            shared: client,
            id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
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
        self.breaker.check(&self.client())
    }

    /// Maps a failed command to a store error, opening the breaker on a timeout or I/O failure.
    pub fn failed(&self, err: fred::error::Error) -> StoreError {
        self.breaker.failed(&self.client(), &err);
        store_error(err)
    }

    /// The client for a command sent from this thread: the thread's own when
    /// [`Connection::open_thread_client`] opened one here, the shared one otherwise.
    pub fn client(&self) -> Client {
        THREAD_CLIENTS
            .try_with(|clients| {
                clients
                    .borrow()
                    .iter()
                    .find(|(id, _)| *id == self.id)
                    .map(|(_, client)| client.clone())
            })
            .ok()
            .flatten()
            .unwrap_or_else(|| self.shared.clone())
    }

    /// Opens a client of this thread's own, served by the runtime running on this thread; later
    /// commands sent from this thread use it. Meant for threads that each run a single-threaded
    /// runtime (the HTTP workers): the shared client's connection is served by another
    /// runtime, so each command would wake a thread there and wait for it to wake this one
    /// back — two context switches per command, a fifth of a cheap request's CPU. Costs one
    /// Redis connection per such thread. Does nothing if this thread already has one.
    ///
    /// # Errors
    /// [`ConnectError`] when Redis does not answer; the thread keeps using the shared client.
    pub async fn open_thread_client(&self) -> Result<(), ConnectError> {
        let opened = THREAD_CLIENTS
            .try_with(|clients| clients.borrow().iter().any(|(id, _)| *id == self.id))
            .unwrap_or(true);
        if opened {
            return Ok(());
        }
        let client = connect_client(&self.config).await?;
        let _ = THREAD_CLIENTS.try_with(|clients| clients.borrow_mut().push((self.id, client)));
        Ok(())
    }

    /// [`Connection::open_thread_client`] as a task of this thread's runtime (a failure is
    /// logged; the thread keeps the shared client). Outside a runtime it does nothing.
    pub fn open_thread_client_in_background(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let connection = self.clone();
        runtime.spawn(async move {
            if let Err(err) = connection.open_thread_client().await {
                tracing::warn!(error = %err, "this thread keeps the shared Redis client");
            }
        });
    }

    /// Closes the shared connection (a thread's own closes with its thread's runtime).
    pub async fn close(&self) {
        let _ = self.shared.quit().await;
    }
}

static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The clients opened on this thread, by connection id (one per connection, rarely more
    /// than one connection per process).
    static THREAD_CLIENTS: RefCell<Vec<(u64, Client)>> = const { RefCell::new(Vec::new()) };
}

/// A client for `config`, connected (bounded by the connect timeout).
async fn connect_client(config: &RedisConfig) -> Result<Client, ConnectError> {
    let client = builder(config)?
        .build()
        .map_err(|err| ConnectError::Config(err.to_string()))?;
    match tokio::time::timeout(config.connect_timeout * 2, client.init()).await {
        Ok(Ok(_)) => Ok(client),
        Ok(Err(err)) => Err(ConnectError::Unreachable(err.to_string())),
        Err(_) => Err(ConnectError::Unreachable("connection timed out".into())),
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

#[cfg(test)]
mod tests {
    use fred::interfaces::KeysInterface;

    use super::*;

    #[test]
    fn urls_of_one_server_a_cluster_or_sentinels_are_usable() {
        for url in [
            "redis://127.0.0.1:6379",
            "redis://:p%40ss@redis.internal/2",
            "redis-cluster://10.0.0.1:7000?node=10.0.0.2:7001&node=10.0.0.3:7002",
            "redis-sentinel://10.0.0.1:26379/0?sentinelServiceName=main",
        ] {
            assert!(check_url(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn a_url_fred_cannot_use_is_refused_without_repeating_it() {
        for url in [
            "garbage-with-password-hunter2",
            "localhost:6379",
            "http://:hunter2@127.0.0.1:6379",
            "redis://:hunter2@127.0.0.1:notaport",
            "redis-cluster://:hunter2@10.0.0.1:7000?node=10.0.0.2",
            "rediss://:hunter2@redis.example.com:6380",
        ] {
            let err = check_url(url).unwrap_err().to_string();

            assert!(
                err.starts_with("invalid Redis configuration"),
                "{url}: {err}"
            );
            assert!(!err.contains("hunter2"), "{url}: {err}");
        }
    }

    /// Runs `work` on a thread of its own with a single-threaded runtime, as an HTTP worker.
    fn on_worker_thread<T: Send + 'static>(
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> T {
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(work)
        })
        .join()
        .unwrap()
    }

    #[tokio::test]
    async fn a_thread_that_opened_its_own_client_sends_its_commands_on_it() {
        let (conn, _redis) = test_connection().await;
        let shared = conn.client().id().to_owned();
        let worker = conn.clone();

        let (own, answered) = on_worker_thread(async move {
            worker.open_thread_client().await.unwrap();
            worker.open_thread_client().await.unwrap();
            let key = format!("{}thread-client", worker.keys.prefix());
            let _: () = worker
                .client()
                .set(&key, "x", None, None, false)
                .await
                .unwrap();
            let answered: String = worker.client().get(&key).await.unwrap();
            (worker.client().id().to_owned(), answered)
        });

        assert_ne!(own, shared);
        assert_eq!(answered, "x");
        assert_eq!(
            conn.client().id(),
            shared,
            "other threads keep the shared client"
        );
        conn.check().unwrap();
    }

    #[tokio::test]
    async fn a_thread_without_its_own_client_uses_the_shared_one() {
        let (conn, _redis) = test_connection().await;
        let shared = conn.client().id().to_owned();
        let worker = conn.clone();

        let used = on_worker_thread(async move { worker.client().id().to_owned() });

        assert_eq!(used, shared);
    }

    #[tokio::test]
    async fn a_thread_client_belongs_to_its_connection_only() {
        let (first, _redis) = test_connection().await;
        let (second, _redis_too) = test_connection().await;
        let second_shared = second.client().id().to_owned();

        let used = on_worker_thread(async move {
            first.open_thread_client().await.unwrap();
            second.client().id().to_owned()
        });

        assert_eq!(used, second_shared);
    }
}
