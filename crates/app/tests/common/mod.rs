//! What the process tests share: the real binary started on free ports with JSON logs, and
//! raw HTTP exchanges with it.

#![allow(dead_code)] // Each test binary uses its own part.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running orchestrator process, killed if a test fails before it exits.
pub struct Process {
    pub child: Child,
    pub addr: SocketAddr,
    /// Every line it logged so far.
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on a free port with JSON logs and waits (at most 60 s) for its
/// "listening" line, which carries the bound address.
pub fn start() -> Process {
    start_with(&[])
}

/// [`start`] with extra environment variables.
pub fn start_with(extra_env: &[(&str, &str)]) -> Process {
    let mut command = Command::new(env!("CARGO_BIN_EXE_orchestrator"));
    command.env_clear();
    let mut child = command
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", "0")
        .env("GRPC_PORT", "0")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .env("APP_ENV", "process-test")
        // Last, so a test's variables override the defaults above.
        .envs(extra_env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let logs = Arc::new(Mutex::new(Vec::new()));
    let collected = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // Kept before it is announced, so a test that looks it up finds it.
            collected.lock().unwrap().push(line.clone());
            if line.contains("orchestrator listening") {
                let _ = tx.send(line);
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("a listening line within 60 s");
    // JSON logs carry the address as a field; human ones as `http=<addr>`.
    let bound: SocketAddr = match serde_json::from_str::<serde_json::Value>(&line) {
        Ok(log) => log["http"].as_str().unwrap().parse().unwrap(),
        Err(_) => line
            .split_whitespace()
            .find_map(|word| word.strip_prefix("http="))
            .expect("the listening line names the HTTP address")
            .parse()
            .unwrap(),
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], bound.port()));
    Process { child, addr, logs }
}

pub fn signal(process: &Process, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(process.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

pub fn wait_for_exit(process: &mut Process, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = process.child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "did not exit within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends raw HTTP/1.1 and returns the whole answer (the connection is closed by the server).
pub fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut socket = TcpStream::connect(addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    socket.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).unwrap();
    answer
}

/// Runs the binary with `env` (over the test defaults) until it exits by itself (at most
/// 60 s): its status and everything it wrote.
pub fn run_to_exit(env: &[(&str, &str)]) -> (ExitStatus, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_orchestrator"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", "0")
        .env("GRPC_PORT", "0")
        .env("LOG_FORMAT", "json")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status, text)
}

pub const ENTRY_OF_TEST_KEY: &str =
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
/// The key whose SHA-256 is [`ENTRY_OF_TEST_KEY`].
pub const TEST_KEY: &str = "test";

/// The first JSON log line whose message contains `message`.
pub fn json_line(logs: &[String], message: &str) -> serde_json::Value {
    logs.iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|log| log["message"].as_str().is_some_and(|m| m.contains(message)))
        .unwrap_or_else(|| panic!("a log line with {message:?} in {logs:#?}"))
}

pub fn get(addr: SocketAddr, path: &str, authorization: Option<&str>) -> String {
    let authorization = authorization
        .map(|value| format!("Authorization: {value}\r\n"))
        .unwrap_or_default();
    exchange(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: test\r\n{authorization}Connection: close\r\n\r\n"),
    )
}

/// The JSON log lines of a process that exited.
pub fn json_logs(process: &Process) -> Vec<serde_json::Value> {
    process
        .logs
        .lock()
        .unwrap()
        .iter()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}
