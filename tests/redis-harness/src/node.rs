//! One child `redis-server` (its arguments, temp dir, log and readiness), free ports, and
//! waiting with a deadline.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::resp::answers_as;
use crate::server::RedisServer;
use crate::{
    KILL_TIMEOUT, LOG_TAIL_LINES, LOOPBACK, MAX_CLUSTER_PORT, POLL_INTERVAL, PORT_PICK_ATTEMPTS,
    READY_TIMEOUT, REDIS_SERVER, START_ATTEMPTS,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeKind {
    Standalone,
    Cluster,
}

/// What a node keeps on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Persistence {
    /// Nothing (`--save "" --appendonly no`): a restart comes back empty.
    None,
    /// Every write, fsynced before it is acknowledged.
    AppendOnly,
}

/// One child `redis-server`: how to (re)start it and the temp dir it lives in.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) port: u16,
    pub(crate) args: Vec<OsString>,
    pub(crate) child: Option<Child>,
    // Dropped after `Drop for Node` has killed the child, so the dir goes once nothing writes it.
    pub(crate) dir: TempDir,
}

impl Node {
    pub(crate) fn new(
        port: u16,
        kind: NodeKind,
        persistence: Persistence,
    ) -> Result<Node, StartError> {
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

    pub(crate) fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    /// Deletes everything in its dir but the log (append-only files, snapshots).
    pub(crate) fn wipe_data(&self) -> io::Result<()> {
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
    pub(crate) fn start(&mut self) -> Result<(), StartError> {
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

    pub(crate) fn wait_ready(&mut self) -> Result<(), StartError> {
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

    pub(crate) fn exit_error(&self, status: ExitStatus) -> StartError {
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

    pub(crate) fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// SIGKILL (no chance to clean up, like a crash), then reap it (bounded).
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = wait_until(KILL_TIMEOUT, || !matches!(child.try_wait(), Ok(None)));
        }
    }

    pub(crate) fn log_tail(&self) -> String {
        log_tail(&self.log_path())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(crate) fn start_standalone() -> Result<RedisServer, StartError> {
    let node = start_node(NodeKind::Standalone, Persistence::None)?;
    Ok(RedisServer {
        url: loopback_url(node.port),
        port: node.port,
        node: Some(node),
    })
}

/// Starts a node on a free port, retrying on another port when the chosen one was taken between
/// the probe and Redis' bind.
pub(crate) fn start_node(kind: NodeKind, persistence: Persistence) -> Result<Node, StartError> {
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
pub(crate) enum StartError {
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
pub(crate) static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

pub(crate) fn pick_free_port(kind: NodeKind) -> Result<u16, StartError> {
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
pub(crate) struct TempDir {
    pub(crate) path: PathBuf,
}

impl TempDir {
    pub(crate) fn new() -> io::Result<TempDir> {
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

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

pub(crate) fn unique_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    format!("{}-{counter}-{nanos}", std::process::id())
}

pub(crate) fn log_tail(path: &Path) -> String {
    match fs::read_to_string(path) {
        Ok(log) => {
            let lines: Vec<&str> = log.lines().collect();
            lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
        }
        Err(error) => format!("<cannot read {}: {error}>", path.display()),
    }
}

pub(crate) fn loopback_url(port: u16) -> String {
    format!("redis://{LOOPBACK}:{port}")
}

/// Polls `done` every 20 ms until it holds or `timeout` passes; returns whether it held.
pub(crate) fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

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
