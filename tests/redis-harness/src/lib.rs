//! Real Redis servers for tests: the Redis store's suites and the multi-instance end-to-end tests
//! need a genuine Redis (and a genuine Redis Cluster), not a mock.
//!
//! `cargo test --workspace` must work on a fresh machine that has `redis-server` and `redis-cli`
//! on `PATH`, whether or not a Redis is already running, and must fail with a message that says
//! what to install when neither is available. So the harness either reuses `REDIS_URL` (when it
//! answers `PING`) or starts its own `redis-server` as a child process on a free loopback port.
//! There is no Docker and no Redis client crate: readiness checks speak RESP over a plain
//! [`std::net::TcpStream`], cluster creation goes through `redis-cli`, and everything is plain std
//! so sync and async tests can both use it. Every wait has a deadline.
//!
//! Owned processes are killed (and their temp dirs removed) when their handle is dropped, which
//! includes unwinding from a failed test. Handles kept in a `static` are never dropped, so keep them
//! in locals.
//!
//! # Layout
//!
//! - [`shared_or_owned`] / [`shared_or_owned_from`]: *a* Redis (`REDIS_URL` or a fresh one).
//! - [`owned_server`]: always a fresh [`RedisServer`], which tests may [`kill`](RedisServer::kill)
//!   and [`restart`](RedisServer::restart) on the same port.
//! - [`owned_persistent_server`]: the same with `--appendonly yes`, so a restart keeps every
//!   acknowledged write; [`RedisServer::restart_empty`] simulates one that lost its data.
//! - [`RedisCluster`]: three masters, slots assigned by `redis-cli --cluster create`.
//! - [`unique_prefix`]: key prefixes that keep tests sharing one Redis apart.
//! - [`redis_cli`]: a bounded `redis-cli` call, for assertions in tests.
//! - Private: `Node` (one child `redis-server`, its args and temp dir), `TempDir`, free-port
//!   picking, a minimal RESP client (`command`) and `run_bounded` (a child process with a deadline).

use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const REDIS_SERVER: &str = "redis-server";
const REDIS_CLI: &str = "redis-cli";
const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// Ports whose cluster bus port (`port + 10000`) is still a valid port.
const MAX_CLUSTER_PORT: u16 = u16::MAX - 10_000;
const CLUSTER_SLOTS: u32 = 16_384;
const CLUSTER_MASTERS: usize = 3;

const POLL_INTERVAL: Duration = Duration::from_millis(20);
const SHARED_PING_TIMEOUT: Duration = Duration::from_secs(1);
const READY_TIMEOUT: Duration = Duration::from_secs(10);
const KILL_TIMEOUT: Duration = Duration::from_secs(10);
const CLUSTER_CREATE_TIMEOUT: Duration = Duration::from_secs(30);
const CLUSTER_OK_TIMEOUT: Duration = Duration::from_secs(20);
const REDIS_CLI_TIMEOUT: Duration = Duration::from_secs(10);
/// Another process may grab a port between our probe and Redis' bind.
const START_ATTEMPTS: usize = 5;
const PORT_PICK_ATTEMPTS: usize = 200;
const LOG_TAIL_LINES: usize = 30;

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/// A Redis the tests may use. Dropping an owned server kills it and removes its temp dir.
#[derive(Debug)]
pub struct RedisServer {
    url: String,
    port: u16,
    /// `None` for a shared server (reused `REDIS_URL`): it is not ours to kill.
    node: Option<Node>,
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

    fn owned_node(&mut self, action: &str) -> &mut Node {
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

/// A Redis Cluster of three masters (no replicas) started by the harness on free ports, each node
/// in its own temp dir, slots assigned by `redis-cli --cluster create`. Dropping it kills all
/// nodes and removes the dirs.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<Node>,
}

impl RedisCluster {
    /// Starts three `redis-server --cluster-enabled yes` nodes, joins them with
    /// `redis-cli --cluster create … --cluster-replicas 0 --cluster-yes`, then waits (bounded
    /// 20 s) until every node reports `cluster_state:ok` with all 16384 slots covered.
    ///
    /// Panics with a clear message (including log tails) if `redis-server`/`redis-cli` are
    /// missing or creation fails; nodes started so far are killed.
    pub fn start() -> RedisCluster {
        let mut nodes = Vec::with_capacity(CLUSTER_MASTERS);
        for _ in 0..CLUSTER_MASTERS {
            match start_node(NodeKind::Cluster, Persistence::None) {
                Ok(node) => nodes.push(node),
                Err(StartError::NotInstalled(program)) => panic!(
                    "redis-harness: `{program}` is not on PATH: install redis-server and \
                     redis-cli (Redis 7, e.g. `apt-get install redis-server`) to run the \
                     Redis Cluster tests"
                ),
                Err(error) => panic!("redis-harness: starting a cluster node failed: {error}"),
            }
        }
        let cluster = RedisCluster { nodes };
        cluster.create();
        cluster.wait_until_ok();
        cluster
    }

    /// `["redis://127.0.0.1:P1", "redis://127.0.0.1:P2", "redis://127.0.0.1:P3"]`.
    pub fn node_urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|node| loopback_url(node.port))
            .collect()
    }

    /// `redis-cluster://127.0.0.1:P1?node=127.0.0.1:P2&node=127.0.0.1:P3`: the URL fred and
    /// the orchestrator's `REDIS_URL` take for a cluster.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|node| format!("{LOOPBACK}:{}", node.port))
            .collect();
        let others: Vec<String> = hosts[1..].iter().map(|h| format!("node={h}")).collect();
        format!("redis-cluster://{}?{}", hosts[0], others.join("&"))
    }

    /// The nodes' client ports (their cluster bus ports are these plus 10000).
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|node| node.port).collect()
    }

    fn create(&self) {
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(
            self.nodes
                .iter()
                .map(|node| format!("{LOOPBACK}:{}", node.port)),
        );
        args.extend(["--cluster-replicas", "0", "--cluster-yes"].map(String::from));
        let failure = match run_bounded(REDIS_CLI, &args, CLUSTER_CREATE_TIMEOUT) {
            Ok(output) if output.status.success() => return,
            Ok(output) => format!(
                "`redis-cli {}` exited with {}:\n{}",
                args.join(" "),
                output.status,
                output.text()
            ),
            Err(RunError::NotInstalled) => panic!(
                "redis-harness: `{REDIS_CLI}` is not on PATH: install redis-cli (Redis 7, e.g. \
                 `apt-get install redis-server`) to run the Redis Cluster tests"
            ),
            Err(error) => format!("`redis-cli {}`: {error}", args.join(" ")),
        };
        panic!(
            "redis-harness: creating the Redis Cluster failed: {failure}\n{}",
            self.log_tails()
        );
    }

    fn wait_until_ok(&self) {
        let ok = wait_until(CLUSTER_OK_TIMEOUT, || {
            self.nodes.iter().all(|node| {
                cluster_info(node.port).is_some_and(|info| {
                    info.contains("cluster_state:ok")
                        && info.contains(&format!("cluster_slots_ok:{CLUSTER_SLOTS}"))
                        && info.contains(&format!("cluster_known_nodes:{CLUSTER_MASTERS}"))
                })
            })
        });
        if !ok {
            let infos: Vec<String> = self
                .nodes
                .iter()
                .map(|node| {
                    let info = cluster_info(node.port).unwrap_or_else(|| "<no answer>".into());
                    format!("CLUSTER INFO of port {}:\n{info}", node.port)
                })
                .collect();
            panic!(
                "redis-harness: the Redis Cluster did not reach cluster_state:ok on every node \
                 within {CLUSTER_OK_TIMEOUT:?}\n{}\n{}",
                infos.join("\n"),
                self.log_tails()
            );
        }
    }

    fn log_tails(&self) -> String {
        self.nodes
            .iter()
            .map(|node| {
                format!(
                    "log tail of node on port {}:\n{}",
                    node.port,
                    node.log_tail()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Runs `redis-cli -h 127.0.0.1 -p <port> <args…>` (bounded 10 s) and returns its stdout.
/// Panics if it cannot run, times out or exits unsuccessfully.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let mut all: Vec<String> = vec!["-h".into(), LOOPBACK.to_string(), "-p".into()];
    all.push(port.to_string());
    all.extend(args.iter().map(|arg| (*arg).to_owned()));
    match run_bounded(REDIS_CLI, &all, REDIS_CLI_TIMEOUT) {
        Ok(output) if output.status.success() => output.stdout,
        Ok(output) => panic!(
            "redis-harness: `redis-cli {}` exited with {}:\n{}",
            all.join(" "),
            output.status,
            output.text()
        ),
        Err(error) => panic!("redis-harness: `redis-cli {}`: {error}", all.join(" ")),
    }
}

// ---------------------------------------------------------------------------------------------
// Owned processes
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeKind {
    Standalone,
    Cluster,
}

/// What a node keeps on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Persistence {
    /// Nothing (`--save "" --appendonly no`): a restart comes back empty.
    None,
    /// Every write, fsynced before it is acknowledged.
    AppendOnly,
}

/// One child `redis-server`: how to (re)start it and the temp dir it lives in.
#[derive(Debug)]
struct Node {
    port: u16,
    args: Vec<OsString>,
    child: Option<Child>,
    // Dropped after `Drop for Node` has killed the child, so the dir goes once nothing writes it.
    dir: TempDir,
}

impl Node {
    fn new(port: u16, kind: NodeKind, persistence: Persistence) -> Result<Node, StartError> {
        let dir = TempDir::new().map_err(|error| {
            StartError::Failed(format!("creating a temp dir for redis-server: {error}"))
        })?;
        let mut args: Vec<OsString> = Vec::new();
        if kind == NodeKind::Cluster {
            for arg in [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
            ] {
                args.push(arg.into());
            }
        }
        for arg in ["--port", &port.to_string(), "--bind", "127.0.0.1"] {
            args.push(arg.into());
        }
        let persistence: &[&str] = match persistence {
            Persistence::None => &["--appendonly", "no"],
            Persistence::AppendOnly => &["--appendonly", "yes", "--appendfsync", "always"],
        };
        for arg in ["--save", "", "--daemonize", "no"]
            .iter()
            .chain(persistence)
        {
            args.push((*arg).into());
        }
        args.push("--dir".into());
        args.push(dir.path().as_os_str().to_owned());
        Ok(Node {
            port,
            args,
            child: None,
            dir,
        })
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    /// Deletes everything in its dir but the log (append-only files, snapshots).
    fn wipe_data(&self) -> io::Result<()> {
        for entry in fs::read_dir(self.dir.path())? {
            let path = entry?.path();
            if path == self.log_path() {
                continue;
            }
            if path.is_dir() {
                fs::remove_dir_all(&path)?;
            } else {
                fs::remove_file(&path)?;
            }
        }
        Ok(())
    }

    /// Spawns the process and waits (bounded 10 s) until it answers PING as itself.
    fn start(&mut self) -> Result<(), StartError> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|error| StartError::Failed(format!("opening the redis log: {error}")))?;
        let log_err = log
            .try_clone()
            .map_err(|error| StartError::Failed(format!("opening the redis log: {error}")))?;
        let child = Command::new(REDIS_SERVER)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|error| {
                if error.kind() == io::ErrorKind::NotFound {
                    StartError::NotInstalled(REDIS_SERVER)
                } else {
                    StartError::Failed(format!("spawning {REDIS_SERVER}: {error}"))
                }
            })?;
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<(), StartError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let Some(child) = self.child.as_mut() else {
                return Err(StartError::Failed("redis-server is not running".into()));
            };
            let pid = child.id();
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    return Err(self.exit_error(status));
                }
                Ok(None) => {}
                Err(error) => {
                    return Err(StartError::Failed(format!(
                        "checking on redis-server: {error}"
                    )))
                }
            }
            if answers_as(self.port, pid) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(StartError::Failed(format!(
                    "redis-server on port {} did not answer PING within {READY_TIMEOUT:?}; log \
                     tail:\n{}",
                    self.port,
                    self.log_tail()
                )));
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    fn exit_error(&self, status: ExitStatus) -> StartError {
        let tail = self.log_tail();
        let message = format!(
            "redis-server on port {} exited with {status} during start-up; log tail:\n{tail}",
            self.port
        );
        if tail.contains("Address already in use") || tail.contains("Failed listening on port") {
            StartError::PortInUse(message)
        } else {
            StartError::Failed(message)
        }
    }

    fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// SIGKILL (no chance to clean up, like a crash), then reap it (bounded).
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = wait_until(KILL_TIMEOUT, || !matches!(child.try_wait(), Ok(None)));
        }
    }

    fn log_tail(&self) -> String {
        log_tail(&self.log_path())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn start_standalone() -> Result<RedisServer, StartError> {
    let node = start_node(NodeKind::Standalone, Persistence::None)?;
    Ok(RedisServer {
        url: loopback_url(node.port),
        port: node.port,
        node: Some(node),
    })
}

/// Starts a node on a free port, retrying on another port when the chosen one was taken between
/// the probe and Redis' bind.
fn start_node(kind: NodeKind, persistence: Persistence) -> Result<Node, StartError> {
    let mut last_error = None;
    for _ in 0..START_ATTEMPTS {
        let port = pick_free_port(kind)?;
        // A fresh node (and dir) per attempt: a failed cluster node may have written a
        // nodes.conf for the old port.
        let mut node = Node::new(port, kind, persistence)?;
        match node.start() {
            Ok(()) => return Ok(node),
            Err(StartError::PortInUse(message)) => last_error = Some(message),
            Err(error) => return Err(error),
        }
    }
    Err(StartError::Failed(format!(
        "no free port after {START_ATTEMPTS} attempts; last failure: {}",
        last_error.unwrap_or_default()
    )))
}

#[derive(Debug)]
enum StartError {
    NotInstalled(&'static str),
    /// Redis could not bind its port (or its cluster bus port): worth retrying elsewhere.
    PortInUse(String),
    Failed(String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::NotInstalled(program) => write!(f, "`{program}` is not on PATH"),
            StartError::PortInUse(message) | StartError::Failed(message) => f.write_str(message),
        }
    }
}

/// Ports handed out by this process, never reused: the OS may hand the same ephemeral port to two
/// concurrent tests between probe and bind, and a killed server must get its port back.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

fn pick_free_port(kind: NodeKind) -> Result<u16, StartError> {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    for _ in 0..PORT_PICK_ATTEMPTS {
        let port = TcpListener::bind((LOOPBACK, 0))
            .and_then(|listener| listener.local_addr())
            .map_err(|error| StartError::Failed(format!("probing for a free port: {error}")))?
            .port();
        if handed_out.contains(&port) {
            continue;
        }
        let bus_port = match kind {
            NodeKind::Standalone => None,
            NodeKind::Cluster if port > MAX_CLUSTER_PORT => continue,
            NodeKind::Cluster => Some(port + 10_000),
        };
        if let Some(bus_port) = bus_port {
            if handed_out.contains(&bus_port) || TcpListener::bind((LOOPBACK, bus_port)).is_err() {
                continue;
            }
            handed_out.insert(bus_port);
        }
        handed_out.insert(port);
        return Ok(port);
    }
    Err(StartError::Failed(format!(
        "no free loopback port found in {PORT_PICK_ATTEMPTS} probes"
    )))
}

/// A directory under [`std::env::temp_dir`], removed on drop.
#[derive(Debug)]
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new() -> io::Result<TempDir> {
        let base = std::env::temp_dir();
        let mut last_error = None;
        for _ in 0..10 {
            let path = base.join(format!("redis-harness-{}", unique_token()));
            // create_dir (not _all) fails on an existing dir, so we never adopt someone else's.
            match fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir { path }),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("could not create a temp dir")))
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

fn unique_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    format!("{}-{counter}-{nanos}", std::process::id())
}

fn log_tail(path: &Path) -> String {
    match fs::read_to_string(path) {
        Ok(log) => {
            let lines: Vec<&str> = log.lines().collect();
            lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
        }
        Err(error) => format!("<cannot read {}: {error}>", path.display()),
    }
}

fn loopback_url(port: u16) -> String {
    format!("redis://{LOOPBACK}:{port}")
}

/// Polls `done` every 20 ms until it holds or `timeout` passes; returns whether it held.
fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL_INTERVAL);
    }
}

// ---------------------------------------------------------------------------------------------
// Bounded child processes (redis-cli)
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct RunOutput {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl RunOutput {
    fn text(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }
}

#[derive(Debug)]
enum RunError {
    NotInstalled,
    TimedOut(Duration),
    Io(io::Error),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::NotInstalled => write!(f, "not on PATH"),
            RunError::TimedOut(timeout) => write!(f, "did not finish within {timeout:?}; killed"),
            RunError::Io(error) => write!(f, "{error}"),
        }
    }
}

/// Runs `program args…` with a deadline, killing it when the deadline passes. Output is drained
/// by threads so a chatty child cannot block on a full pipe while we poll it.
fn run_bounded(program: &str, args: &[String], timeout: Duration) -> Result<RunOutput, RunError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| {
            if error.kind() == io::ErrorKind::NotFound {
                RunError::NotInstalled
            } else {
                RunError::Io(error)
            }
        })?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::TimedOut(timeout));
            }
            Ok(None) => thread::sleep(POLL_INTERVAL),
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::Io(error));
            }
        }
    };
    Ok(RunOutput {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

// ---------------------------------------------------------------------------------------------
// Minimal RESP client
// ---------------------------------------------------------------------------------------------

/// Where a Redis is and how to authenticate, from a `redis://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint {
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<String>,
}

impl Endpoint {
    fn loopback(port: u16) -> Endpoint {
        Endpoint {
            host: LOOPBACK.to_string(),
            port,
            username: None,
            password: None,
        }
    }
}

/// Parses `redis://[[user]:password@]host[:port][/db][?…]`. Returns `None` for anything else
/// (`rediss://` needs TLS, which a plain socket cannot check).
fn parse_redis_url(url: &str) -> Option<Endpoint> {
    let rest = url.strip_prefix("redis://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, authority),
    };
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    let port = match port {
        Some(port) => port.parse().ok()?,
        None => 6379,
    };
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(userinfo) => match userinfo.split_once(':') {
            Some((user, password)) => (
                Some(user.to_owned()).filter(|user| !user.is_empty()),
                Some(password.to_owned()),
            ),
            // `redis://secret@host` is commonly a bare password.
            None => (None, Some(userinfo.to_owned())),
        },
    };
    Some(Endpoint {
        host: host.to_owned(),
        port,
        username,
        password,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

/// Connects within `timeout` (in total over all resolved addresses) and sets I/O timeouts.
fn connect(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let deadline = Instant::now() + timeout;
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "host resolved to no address");
    for addr in addrs {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"));
        }
        match TcpStream::connect_timeout(&addr, remaining) {
            Ok(stream) => {
                let remaining = deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1));
                stream.set_read_timeout(Some(remaining))?;
                stream.set_write_timeout(Some(remaining))?;
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(error) => last_error = error,
        }
    }
    Err(last_error)
}

fn command(
    stream: &mut TcpStream,
    reader: &mut BufReader<TcpStream>,
    args: &[&str],
) -> io::Result<Reply> {
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    stream.write_all(&request)?;
    read_reply(reader)
}

fn read_reply(reader: &mut impl BufRead) -> io::Result<Reply> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    let line = line.trim_end_matches(['\r', '\n']);
    let (kind, body) = line.split_at_checked(1).unwrap_or(("", ""));
    let invalid = || io::Error::new(io::ErrorKind::InvalidData, format!("bad reply: {line:?}"));
    let length = || body.parse::<i64>().map_err(|_| invalid());
    match kind {
        "+" => Ok(Reply::Simple(body.to_owned())),
        "-" => Ok(Reply::Error(body.to_owned())),
        ":" => Ok(Reply::Integer(length()?)),
        "$" => {
            let Ok(len) = usize::try_from(length()?) else {
                return Ok(Reply::Bulk(None));
            };
            let mut data = vec![0; len + 2];
            reader.read_exact(&mut data)?;
            data.truncate(len);
            Ok(Reply::Bulk(Some(data)))
        }
        "*" => {
            let Ok(len) = usize::try_from(length()?) else {
                return Ok(Reply::Array(None));
            };
            let items = (0..len)
                .map(|_| read_reply(reader))
                .collect::<io::Result<_>>()?;
            Ok(Reply::Array(Some(items)))
        }
        _ => Err(invalid()),
    }
}

/// A connection with its buffered reader (both halves of one socket).
fn session(
    endpoint: &Endpoint,
    timeout: Duration,
) -> io::Result<(TcpStream, BufReader<TcpStream>)> {
    let stream = connect(&endpoint.host, endpoint.port, timeout)?;
    let reader = BufReader::new(stream.try_clone()?);
    Ok((stream, reader))
}

fn ping_endpoint(endpoint: &Endpoint, timeout: Duration) -> bool {
    let answers = || -> io::Result<bool> {
        let (mut stream, mut reader) = session(endpoint, timeout)?;
        if let Some(password) = &endpoint.password {
            let mut auth = vec!["AUTH"];
            if let Some(username) = &endpoint.username {
                auth.push(username);
            }
            auth.push(password);
            if let Reply::Error(_) = command(&mut stream, &mut reader, &auth)? {
                return Ok(false);
            }
        }
        let reply = command(&mut stream, &mut reader, &["PING"])?;
        Ok(reply == Reply::Simple("PONG".into()))
    };
    answers().unwrap_or(false)
}

/// Whether the Redis on `port` answers PING *and* is the process `pid`: between our probe and
/// its bind, another test's Redis may have taken the port, and it would answer PING too.
fn answers_as(port: u16, pid: u32) -> bool {
    let answers = || -> io::Result<bool> {
        let (mut stream, mut reader) =
            session(&Endpoint::loopback(port), Duration::from_millis(500))?;
        if command(&mut stream, &mut reader, &["PING"])? != Reply::Simple("PONG".into()) {
            return Ok(false);
        }
        let Reply::Bulk(Some(info)) = command(&mut stream, &mut reader, &["INFO", "server"])?
        else {
            return Ok(false);
        };
        let info = String::from_utf8_lossy(&info);
        Ok(info
            .lines()
            .any(|line| line.trim_end() == format!("process_id:{pid}")))
    };
    answers().unwrap_or(false)
}

fn cluster_info(port: u16) -> Option<String> {
    let (mut stream, mut reader) =
        session(&Endpoint::loopback(port), Duration::from_secs(1)).ok()?;
    match command(&mut stream, &mut reader, &["CLUSTER", "INFO"]).ok()? {
        Reply::Bulk(Some(info)) => Some(String::from_utf8_lossy(&info).into_owned()),
        Reply::Simple(_)
        | Reply::Error(_)
        | Reply::Integer(_)
        | Reply::Bulk(None)
        | Reply::Array(_) => None,
    }
}

fn accepts_connections(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from((LOOPBACK, port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_redis_urls_with_and_without_credentials() {
        assert_eq!(
            parse_redis_url("redis://127.0.0.1:6380/0"),
            Some(Endpoint::loopback(6380))
        );
        assert_eq!(
            parse_redis_url("redis://localhost").map(|e| (e.host, e.port)),
            Some(("localhost".to_owned(), 6379))
        );
        let endpoint = parse_redis_url("redis://user:pw@[::1]:7000?x=1").unwrap();
        assert_eq!((endpoint.host.as_str(), endpoint.port), ("::1", 7000));
        assert_eq!(endpoint.username.as_deref(), Some("user"));
        assert_eq!(endpoint.password.as_deref(), Some("pw"));
        assert_eq!(parse_redis_url("redis://:pw@h:1").unwrap().username, None);
        assert_eq!(parse_redis_url("rediss://h:1"), None);
        assert_eq!(parse_redis_url("redis://h:notaport"), None);
    }

    #[test]
    fn reads_every_resp_reply_kind() {
        let mut input: &[u8] = b"+OK\r\n-ERR x\r\n:42\r\n$3\r\nfoo\r\n$-1\r\n*2\r\n+a\r\n:1\r\n";
        assert_eq!(read_reply(&mut input).unwrap(), Reply::Simple("OK".into()));
        assert_eq!(
            read_reply(&mut input).unwrap(),
            Reply::Error("ERR x".into())
        );
        assert_eq!(read_reply(&mut input).unwrap(), Reply::Integer(42));
        assert_eq!(
            read_reply(&mut input).unwrap(),
            Reply::Bulk(Some(b"foo".to_vec()))
        );
        assert_eq!(read_reply(&mut input).unwrap(), Reply::Bulk(None));
        assert_eq!(
            read_reply(&mut input).unwrap(),
            Reply::Array(Some(vec![Reply::Simple("a".into()), Reply::Integer(1)]))
        );
        assert!(read_reply(&mut input).is_err());
    }

    #[test]
    fn cluster_ports_leave_room_for_the_bus_port() {
        for _ in 0..20 {
            let port = pick_free_port(NodeKind::Cluster).unwrap();
            assert!(port <= MAX_CLUSTER_PORT);
        }
    }

    #[test]
    fn temp_dirs_are_removed_on_drop() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().to_owned();
        fs::write(path.join("f"), b"x").unwrap();
        drop(dir);
        assert!(!path.exists());
    }
}
