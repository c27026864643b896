//! The real `orchestrator` binary: starts with zero configuration, answers, and on SIGTERM or
//! SIGINT stops accepting, finishes in-flight requests and exits 0.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running orchestrator process, killed if a test fails before it exits.
struct Process {
    child: Child,
    addr: SocketAddr,
    /// Every line it logged so far.
    logs: Arc<Mutex<Vec<String>>>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on a free port with JSON logs and waits (at most 60 s) for its
/// "listening" line, which carries the bound address.
fn start() -> Process {
    start_with(&[])
}

/// [`start`] with extra environment variables.
fn start_with(extra_env: &[(&str, &str)]) -> Process {
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
            if line.contains("orchestrator listening") {
                let _ = tx.send(line.clone());
            }
            collected.lock().unwrap().push(line);
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

fn signal(process: &Process, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(process.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_for_exit(process: &mut Process, limit: Duration) -> ExitStatus {
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
fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut socket = TcpStream::connect(addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    socket.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_binary_serves_with_zero_configuration_and_exits_zero_on_sigterm() {
    let mut process = start();

    let health = exchange(
        process.addr,
        "GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    );
    let created = exchange(
        process.addr,
        "POST /streams HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    signal(&process, "TERM");

    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(
        created.starts_with("HTTP/1.1 201"),
        "embedded LiveKit works: {created}"
    );
    assert!(wait_for_exit(&mut process, Duration::from_secs(20)).success());
}

#[test]
fn sigint_also_exits_zero() {
    let mut process = start();

    signal(&process, "INT");

    assert!(wait_for_exit(&mut process, Duration::from_secs(20)).success());
}

#[test]
fn a_request_in_flight_at_sigterm_is_finished_before_exit() {
    let mut process = start();
    let body = r#"{"roomName":"drain"}"#;
    let mut socket = TcpStream::connect(process.addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let head = format!(
        "POST /streams HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).unwrap();
    socket.write_all(&body.as_bytes()[..5]).unwrap();
    std::thread::sleep(Duration::from_millis(200));

    signal(&process, "TERM");
    std::thread::sleep(Duration::from_millis(300));
    socket.write_all(&body.as_bytes()[5..]).unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).unwrap();

    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(answer.contains("\"roomName\":\"drain\""), "{answer}");
    assert!(wait_for_exit(&mut process, Duration::from_secs(20)).success());
    assert!(
        TcpStream::connect_timeout(&process.addr, Duration::from_millis(500)).is_err(),
        "no longer accepting"
    );
}

#[test]
fn secrets_and_tokens_never_reach_the_logs() {
    let secret = "a-custom-secret-that-must-stay-out-of-logs";
    let mut process = start_with(&[
        ("LIVEKIT_API_KEY", "custom-key"),
        ("LIVEKIT_API_SECRET", secret),
        ("RUST_LOG", "debug"),
    ]);
    let body = r#"{"roomName":"quiet"}"#;
    let created = exchange(
        process.addr,
        &format!(
            "POST /streams HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    let id = created
        .split("\"id\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let join = r#"{"participantName":"ada"}"#;
    let joined = exchange(
        process.addr,
        &format!(
            "POST /streams/{id}/join HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{join}",
            join.len()
        ),
    );
    let token = joined
        .split("\"token\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    signal(&process, "TERM");
    assert!(wait_for_exit(&mut process, Duration::from_secs(20)).success());

    let logs = process.logs.lock().unwrap().join("\n");
    assert!(
        logs.contains("custom-key"),
        "the key is logged, so the check sees the logs"
    );
    assert!(
        !logs.contains(secret),
        "the API secret leaked into the logs"
    );
    assert!(!logs.contains(&token), "a join token leaked into the logs");
}

#[test]
fn with_no_livekit_configuration_the_emulator_signs_with_livekits_dev_credentials() {
    let mut process = start();
    signal(&process, "TERM");
    assert!(wait_for_exit(&mut process, Duration::from_secs(20)).success());

    let logs = process.logs.lock().unwrap().clone();
    let emulator: serde_json::Value = logs
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|log| {
            log["message"]
                .as_str()
                .is_some_and(|m| m.contains("embedded LiveKit emulator"))
        })
        .expect("a log line about the embedded emulator");
    assert_eq!(emulator["api_key"], "devkey", "{emulator}");
    assert_eq!(emulator["api_secret"], "secret", "{emulator}");
}

/// The JSON log lines of a process that exited.
fn json_logs(process: &Process) -> Vec<serde_json::Value> {
    process
        .logs
        .lock()
        .unwrap()
        .iter()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

#[test]
fn each_request_is_logged_once_with_its_route_status_latency_and_request_id() {
    let mut process = start();

    exchange(
        process.addr,
        "GET /streams/nope HTTP/1.1\r\nHost: test\r\nX-Request-Id: trace-7\r\n\
         Connection: close\r\n\r\n",
    );
    signal(&process, "TERM");
    assert!(wait_for_exit(&mut process, Duration::from_secs(20)).success());

    let logs = json_logs(&process);
    let access: Vec<&serde_json::Value> = logs
        .iter()
        .filter(|log| log["target"] == "orchestrator_http::access")
        .filter(|log| log["request_id"] == "trace-7")
        .collect();
    assert_eq!(access.len(), 1, "{logs:#?}");
    assert_eq!(access[0]["method"], "GET");
    assert_eq!(access[0]["route"], "/streams/{id}");
    assert_eq!(access[0]["status"], 404);
    assert!(access[0]["latency_ms"].is_number());
}

#[test]
fn what_a_request_logs_carries_its_request_id() {
    let mut process = start_with(&[
        ("LIVEKIT_URL", "http://127.0.0.1:1"),
        ("LIVEKIT_API_KEY", "key"),
        (
            "LIVEKIT_API_SECRET",
            "a-secret-of-at-least-32-characters-long",
        ),
    ]);

    let refused = exchange(
        process.addr,
        "POST /streams HTTP/1.1\r\nHost: test\r\nX-Request-Id: trace-8\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n",
    );
    signal(&process, "TERM");
    assert!(wait_for_exit(&mut process, Duration::from_secs(20)).success());

    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    let logs = json_logs(&process);
    let warning = logs
        .iter()
        .find(|log| log["message"] == "LiveKit unavailable")
        .expect("the handler logged the outage");
    assert_eq!(warning["span"]["request_id"], "trace-8", "{warning}");
}

#[test]
fn human_logs_carry_no_colour_codes_when_stdout_is_not_a_terminal() {
    let mut process = start_with(&[("LOG_FORMAT", "human")]);

    exchange(
        process.addr,
        "GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    );
    signal(&process, "TERM");
    assert!(wait_for_exit(&mut process, Duration::from_secs(20)).success());

    let logs = process.logs.lock().unwrap().join("\n");
    assert!(logs.contains("orchestrator listening"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "ANSI escape codes in: {logs}");
}
