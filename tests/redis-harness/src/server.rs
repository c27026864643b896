//! A Redis the tests may use: shared (`REDIS_URL`) or owned (a fresh `redis-server`), and
//! the key prefixes that keep tests on one Redis apart.

use crate::node::{
    loopback_url, start_node, start_standalone, unique_token, wait_until, Node, NodeKind,
    Persistence, StartError,
};
use crate::resp::{accepts_connections, ping_endpoint};
use crate::url::{parse_redis_url, Endpoint};
use crate::{KILL_TIMEOUT, SHARED_PING_TIMEOUT};

/// A Redis the tests may use. Dropping an owned server kills it and removes its temp dir.
#[derive(Debug)]
pub struct RedisServer {
    pub(crate) url: String,
    pub(crate) port: u16,
    /// `None` for a shared server (reused `REDIS_URL`): it is not ours to kill.
    pub(crate) node: Option<Node>,
}

impl RedisServer {
    /// `redis://127.0.0.1:<port>` for an owned server; `REDIS_URL` verbatim for a shared one.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The TCP port Redis listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether this harness started the process (false when `REDIS_URL` was reused).
    pub fn is_owned(&self) -> bool {
        self.node.is_some()
    }

    /// Whether the server answers `PING` within 1 s.
    pub fn ping(&self) -> bool {
        match &self.node {
            Some(node) => ping_endpoint(&Endpoint::loopback(node.port), SHARED_PING_TIMEOUT),
            None => parse_redis_url(&self.url)
                .is_some_and(|endpoint| ping_endpoint(&endpoint, SHARED_PING_TIMEOUT)),
        }
    }

    /// Kills the process (SIGKILL, like a crash) and waits until the port refuses connections
    /// (bounded 10 s). Panics for a shared (not owned) server.
    pub fn kill(&mut self) {
        let node = self.owned_node("kill");
        node.kill();
        let port = node.port;
        if !wait_until(KILL_TIMEOUT, || !accepts_connections(port)) {
            panic!(
                "redis-harness: port {port} still accepts connections {KILL_TIMEOUT:?} after \
                 redis-server was killed"
            );
        }
    }

    /// Starts it again on the SAME port (and same dir/options), waits until PING answers
    /// (bounded 10 s). Kills it first if it is still running. Panics for a shared server.
    pub fn restart(&mut self) {
        let node = self.owned_node("restart");
        if node.is_running() {
            node.kill();
        }
        // The port must stay the same (clients under test reconnect to it), so a bind failure
        // here cannot be retried elsewhere: report it.
        if let Err(error) = node.start() {
            panic!(
                "redis-harness: restarting redis-server on port {}: {error}",
                node.port
            );
        }
    }

    /// Restarts it on the same port with its data files deleted, as a Redis that lost its disk
    /// (or ran without persistence) comes back: empty. Panics for a shared server.
    pub fn restart_empty(&mut self) {
        let node = self.owned_node("restart");
        if node.is_running() {
            node.kill();
        }
        if let Err(error) = node.wipe_data() {
            panic!(
                "redis-harness: deleting the data of port {}: {error}",
                node.port
            );
        }
        if let Err(error) = node.start() {
            panic!(
                "redis-harness: restarting redis-server on port {}: {error}",
                node.port
            );
        }
    }

    pub(crate) fn owned_node(&mut self, action: &str) -> &mut Node {
        let url = &self.url;
        match &mut self.node {
            Some(node) => node,
            None => panic!(
                "redis-harness: cannot {action} the shared Redis at {url} (from REDIS_URL); \
                 use owned_server() for tests that {action} Redis"
            ),
        }
    }
}

/// A Redis for tests that only need *a* Redis: `REDIS_URL` when it is set and answers PING
/// within 1 s, otherwise a fresh owned `redis-server` on a free port. Panics with a message naming
/// both options when neither works.
///
/// Tests sharing `REDIS_URL` must isolate themselves by key prefix: see [`unique_prefix`].
pub fn shared_or_owned() -> RedisServer {
    let redis_url = std::env::var("REDIS_URL").ok();
    shared_or_owned_from(redis_url.as_deref())
}

/// [`shared_or_owned`] with the value of `REDIS_URL` passed in (so both branches are testable
/// without mutating the process environment). `None` or an empty string means unset.
pub fn shared_or_owned_from(redis_url: Option<&str>) -> RedisServer {
    let redis_url = redis_url.map(str::trim).filter(|url| !url.is_empty());
    let why_not_shared = match redis_url {
        None => "REDIS_URL is not set".to_owned(),
        Some(url) => match parse_redis_url(url) {
            None => format!(
                "REDIS_URL={url} is not a redis://host:port URL the harness can check \
                 (rediss:// and unix sockets are not supported)"
            ),
            Some(endpoint) if ping_endpoint(&endpoint, SHARED_PING_TIMEOUT) => {
                return RedisServer {
                    url: url.to_owned(),
                    port: endpoint.port,
                    node: None,
                };
            }
            Some(_) => format!("REDIS_URL={url} does not answer PING within 1 s"),
        },
    };
    if redis_url.is_some() {
        // Falling back silently would hide a misconfigured REDIS_URL from whoever set it.
        eprintln!("redis-harness: {why_not_shared}; starting an owned redis-server instead");
    }
    match start_standalone() {
        Ok(server) => server,
        Err(StartError::NotInstalled(program)) => panic!(
            "redis-harness: {why_not_shared} and `{program}` is not on PATH: install \
             redis-server (Redis 7, e.g. `apt-get install redis-server`) or set REDIS_URL to a \
             running Redis"
        ),
        Err(error) => panic!(
            "redis-harness: {why_not_shared} and starting an owned redis-server failed: {error}\n\
             Fix the local redis-server or set REDIS_URL to a running Redis."
        ),
    }
}

/// Always a fresh owned standalone server on a free port (for tests that kill/restart it or
/// FLUSHALL it). Runs `redis-server --save "" --appendonly no --bind 127.0.0.1 --port P
/// --dir <tempdir> --daemonize no` as a child process, logging to `redis.log` in the temp dir.
pub fn owned_server() -> RedisServer {
    match start_standalone() {
        Ok(server) => server,
        Err(StartError::NotInstalled(program)) => panic!(
            "redis-harness: `{program}` is not on PATH: install redis-server (Redis 7, e.g. \
             `apt-get install redis-server`); this test needs a Redis it may kill or flush, so \
             REDIS_URL cannot stand in for it"
        ),
        Err(error) => panic!("redis-harness: starting an owned redis-server failed: {error}"),
    }
}

/// A fresh owned standalone server that persists every write (`--appendonly yes
/// --appendfsync always`) in its temp dir, so [`RedisServer::kill`] then
/// [`RedisServer::restart`] loses nothing that was acknowledged: for the chaos tests.
pub fn owned_persistent_server() -> RedisServer {
    match start_node(NodeKind::Standalone, Persistence::AppendOnly) {
        Ok(node) => RedisServer {
            url: loopback_url(node.port),
            port: node.port,
            node: Some(node),
        },
        Err(StartError::NotInstalled(program)) => panic!(
            "redis-harness: `{program}` is not on PATH: install redis-server (Redis 7, e.g. \
             `apt-get install redis-server`)"
        ),
        Err(error) => panic!("redis-harness: starting an owned redis-server failed: {error}"),
    }
}

/// A unique key prefix per call (`t-<pid>-<counter>-<nanos>:`) so tests on one Redis never
/// collide, even across test processes and runs.
pub fn unique_prefix() -> String {
    format!("t-{}:", unique_token())
}
