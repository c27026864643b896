//! The real `orchestrator` binary as a child process, for the suites that crash, pause,
//! terminate and starve it: started on free loopback ports with JSON logs, its logs kept, its
//! memory and open files read from `/proc`, and killed when the handle is dropped (also when a
//! test fails), so no test leaves a process behind.
//!
//! The binary is `ORCHESTRATOR_BIN` when set, else `orchestrator` next to the test executable's
//! directory (`target/debug/`), which `cargo test --workspace` builds (the app's own process
//! tests need it). `cargo build -p orchestrator` builds it for a suite run on its own.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long the binary may take to say it listens.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The orchestrator binary the process suites run.
pub fn orchestrator_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("ORCHESTRATOR_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test executable's path");
    // target/debug/deps/<test> → target/debug/orchestrator
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("orchestrator"))
        .expect("a target directory");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p orchestrator` (or set ORCHESTRATOR_BIN)",
        path.display()
    );
    path
}

/// A signal the tests send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Graceful shutdown.
    Term,
    /// Crash (no clean-up at all).
    Kill,
    /// Freeze (as a long GC pause, a stalled VM or a debugger would).
    Stop,
    /// Thaw after [`Signal::Stop`].
    Cont,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Term => "TERM",
            Signal::Kill => "KILL",
            Signal::Stop => "STOP",
            Signal::Cont => "CONT",
        }
    }
}

/// A running orchestrator process.
#[derive(Debug)]
pub struct Orchestrator {
    child: Child,
    /// Where REST and WebSocket listen (loopback).
    pub http: SocketAddr,
    /// Where gRPC listens (loopback).
    pub grpc: SocketAddr,
    /// The id it stamps on its events (`instanceId`) and holds leases under.
    pub instance_id: String,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Drop for Orchestrator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Orchestrator {
    /// Starts the binary with nothing but these settings: loopback, ports 0, JSON logs, the
    /// in-memory store and embedded emulator unless `env` says otherwise (later entries win).
    /// Waits for its "listening" line.
    pub fn start(env: &[(&str, &str)]) -> Orchestrator {
        let mut child = Command::new(orchestrator_binary())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORT", "0")
            .env("GRPC_PORT", "0")
            .env("APP__HTTP__HOST", "127.0.0.1")
            .env("APP__HTTP__WORKERS", "2")
            .env("APP_ENV", "chaos-test")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the orchestrator binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (listening_tx, listening_rx) = mpsc::channel();
        let collected = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("orchestrator listening") {
                    let _ = listening_tx.send(line.clone());
                }
                collected
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
        });
        let Ok(line) = listening_rx.recv_timeout(START_TIMEOUT) else {
            let _ = child.kill();
            let status = child.wait().ok();
            let logs = logs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .join("\n");
            panic!("the orchestrator did not start within {START_TIMEOUT:?} ({status:?}):\n{logs}");
        };
        let log: serde_json::Value = serde_json::from_str(&line).expect("JSON logs");
        let port = |field: &str| -> SocketAddr {
            let bound: SocketAddr = log[field]
                .as_str()
                .unwrap_or_default()
                .parse()
                .expect(field);
            SocketAddr::from(([127, 0, 0, 1], bound.port()))
        };
        Orchestrator {
            http: port("http"),
            grpc: port("grpc"),
            instance_id: log["instance"].as_str().unwrap_or_default().to_owned(),
            child,
            logs,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://<http addr>`.
    pub fn base(&self) -> String {
        format!("http://{}", self.http)
    }

    /// `ws://<http addr>/ws`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.http)
    }

    /// `http://<grpc addr>`.
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc)
    }

    /// Sends `signal` (with `kill -s`, so no unsafe code is needed).
    pub fn signal(&self, signal: Signal) {
        let status = Command::new("kill")
            .args(["-s", signal.name(), &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -s {} failed", signal.name());
    }

    /// SIGKILL, then reaps it: a crash.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Its exit status, once it exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits up to `limit` for it to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Resident memory in KiB (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid()).expect("VmRSS of a live process")
    }

    /// Open file descriptors (sockets included): the entries of `/proc/<pid>/fd`.
    pub fn open_fds(&self) -> usize {
        open_fds(self.pid()).expect("/proc/<pid>/fd of a live process")
    }

    /// Every line it logged so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many log lines contain `needle`.
    pub fn logged(&self, needle: &str) -> usize {
        self.logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|line| line.contains(needle))
            .count()
    }
}

/// Resident memory of process `pid` in KiB, while it runs.
pub fn rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// Open file descriptors of process `pid`, while it runs.
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// The highest RSS and fd count seen while sampling a process in the background.
#[derive(Debug)]
pub struct Peak {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<(u64, usize)>>,
}

impl Peak {
    /// Samples `pid` every 100 ms until [`Peak::finish`].
    pub fn sample(pid: u32) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut rss, mut fds) = (0, 0);
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                rss = rss.max(rss_kib(pid).unwrap_or(0));
                fds = fds.max(open_fds(pid).unwrap_or(0));
                std::thread::sleep(Duration::from_millis(100));
            }
            (rss, fds)
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// The peak RSS (KiB) and the peak number of open fds.
    pub fn finish(mut self) -> (u64, usize) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|thread| thread.join().ok())
            .unwrap_or_default()
    }
}
