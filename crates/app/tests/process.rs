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

/// Runs the binary with `env` (over the test defaults) until it exits by itself (at most
/// 60 s): its status and everything it wrote.
fn run_to_exit(env: &[(&str, &str)]) -> (ExitStatus, String) {
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

const ENTRY_OF_TEST_KEY: &str =
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
/// The key whose SHA-256 is [`ENTRY_OF_TEST_KEY`].
const TEST_KEY: &str = "test";

#[test]
fn production_refuses_to_start_open_or_on_the_embedded_emulator() {
    let (status, output) = run_to_exit(&[("APP_ENV", "production")]);

    assert!(!status.success());
    assert!(output.contains("requires operator API keys"), "{output}");
    assert!(output.contains("requires LIVEKIT_URL"), "{output}");
    assert!(!output.contains("orchestrator listening"), "{output}");
}

#[test]
fn production_refuses_livekits_development_credentials() {
    let (status, output) = run_to_exit(&[
        ("APP_ENV", "production"),
        ("API_KEYS", ENTRY_OF_TEST_KEY),
        ("LIVEKIT_URL", "http://127.0.0.1:9"),
        ("LIVEKIT_API_KEY", "devkey"),
        ("LIVEKIT_API_SECRET", "secret"),
    ]);

    assert!(!status.success());
    assert!(output.contains("development credentials"), "{output}");
    assert!(!output.contains("\"api_secret\""), "{output}");
}

#[test]
fn the_development_default_listens_on_loopback_only_and_warns_that_it_is_open() {
    let mut process = start_with(&[("APP_ENV", "development")]);
    signal(&process, "TERM");
    assert!(wait_for_exit(&mut process, Duration::from_secs(20)).success());

    let logs = process.logs.lock().unwrap().clone();
    let listening = json_line(&logs, "orchestrator listening");
    let warning = json_line(&logs, "no operator API keys configured");
    assert!(
        listening["http"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{listening}"
    );
    assert_eq!(warning["level"], "WARN");
}

/// The first JSON log line whose message contains `message`.
fn json_line(logs: &[String], message: &str) -> serde_json::Value {
    logs.iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|log| log["message"].as_str().is_some_and(|m| m.contains(message)))
        .unwrap_or_else(|| panic!("a log line with {message:?} in {logs:#?}"))
}

fn get(addr: SocketAddr, path: &str, authorization: Option<&str>) -> String {
    let authorization = authorization
        .map(|value| format!("Authorization: {value}\r\n"))
        .unwrap_or_default();
    exchange(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: test\r\n{authorization}Connection: close\r\n\r\n"),
    )
}

#[test]
fn a_configured_key_opens_the_api_and_never_reaches_the_logs() {
    let mut process = start_with(&[("API_KEYS", ENTRY_OF_TEST_KEY), ("RUST_LOG", "debug")]);
    let wrong_key = "lso_a-wrong-key-that-must-stay-out-of-logs";

    let with_key = get(
        process.addr,
        "/streams",
        Some(&format!("Bearer {TEST_KEY}")),
    );
    let without = get(process.addr, "/streams", None);
    let wrong = get(
        process.addr,
        "/streams",
        Some(&format!("Bearer {wrong_key}")),
    );
    signal(&process, "TERM");

    assert!(with_key.starts_with("HTTP/1.1 200"), "{with_key}");
    assert!(without.starts_with("HTTP/1.1 401"), "{without}");
    assert!(
        wrong.starts_with("HTTP/1.1 401") && !wrong.contains(wrong_key),
        "{wrong}"
    );
    assert!(wait_for_exit(&mut process, Duration::from_secs(20)).success());
    let logs = process.logs.lock().unwrap().join("\n");
    assert!(
        logs.contains("request refused"),
        "the check sees the debug logs"
    );
    assert!(
        !logs.contains(wrong_key),
        "a presented key leaked into the logs"
    );
    assert!(
        !logs.contains("9f86d081884c7d659a2f"),
        "a key's hash leaked into the logs"
    );
}

/// A WebSocket on `/ws` subscribed to `stream`, past its `subscribed` answer.
fn subscribed_websocket(addr: SocketAddr, stream: &str) -> TcpStream {
    let mut socket = TcpStream::connect(addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    socket
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        socket.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    let subscribe = format!(r#"{{"type":"subscribe","streamId":"{stream}"}}"#);
    write_masked_text(&mut socket, subscribe.as_bytes());
    while !String::from_utf8_lossy(&read_frame(&mut socket).1).contains("subscribed") {}
    socket
}

/// Writes a client text frame (clients mask; the mask is zero, which is allowed).
fn write_masked_text(socket: &mut TcpStream, payload: &[u8]) {
    let mut frame = vec![0x81, 0x80 | u8::try_from(payload.len()).unwrap()];
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(payload);
    socket.write_all(&frame).unwrap();
}

/// The next server frame: opcode and payload.
fn read_frame(socket: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut header = [0u8; 2];
    socket.read_exact(&mut header).unwrap();
    let length = match header[1] & 0x7f {
        126 => {
            let mut extended = [0u8; 2];
            socket.read_exact(&mut extended).unwrap();
            usize::from(u16::from_be_bytes(extended))
        }
        127 => {
            let mut extended = [0u8; 8];
            socket.read_exact(&mut extended).unwrap();
            usize::try_from(u64::from_be_bytes(extended)).unwrap()
        }
        short => usize::from(short),
    };
    let mut payload = vec![0u8; length];
    socket.read_exact(&mut payload).unwrap();
    (header[0] & 0x0f, payload)
}

/// The close code a WebSocket ends with (skipping other frames), or `None` if the connection
/// was dropped without one.
fn close_code(socket: &mut TcpStream) -> Option<(u16, String)> {
    loop {
        let mut header = [0u8; 1];
        if socket.peek(&mut header).ok()? == 0 {
            return None;
        }
        let (opcode, payload) = read_frame(socket);
        if opcode == 0x8 {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            return Some((code, String::from_utf8_lossy(&payload[2..]).into_owned()));
        }
    }
}

#[test]
fn sigterm_under_load_ends_within_the_shutdown_timeout_and_websockets_hear_why() {
    let mut process = start_with(&[("APP__HTTP__SHUTDOWN_TIMEOUT_SECS", "2")]);
    let created = exchange(
        process.addr,
        "POST /streams HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    let id = created.split("\"id\":\"").nth(1).unwrap()[..36].to_owned();
    let mut websockets: Vec<TcpStream> = (0..5)
        .map(|_| subscribed_websocket(process.addr, &id))
        .collect();
    // A request that never completes: it holds its connection until the grace period ends.
    let mut stuck = TcpStream::connect(process.addr).unwrap();
    stuck
        .write_all(
            b"POST /streams HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
              Content-Length: 1000\r\n\r\n{",
        )
        .unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (stop, addr) = (stop.clone(), process.addr);
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let Ok(mut socket) = TcpStream::connect(addr) else {
                        return;
                    };
                    let _ = socket.write_all(b"GET /streams HTTP/1.1\r\nHost: t\r\n\r\n");
                    let _ = socket.read(&mut [0u8; 512]);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));

    signal(&process, "TERM");
    let status = wait_for_exit(&mut process, Duration::from_secs(2 + 3));

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.into_iter().for_each(|thread| thread.join().unwrap());
    assert!(status.success(), "{status}");
    for websocket in &mut websockets {
        let (code, reason) =
            close_code(websocket).expect("a close frame, not a dropped connection");
        assert_eq!(code, 1001, "{reason}");
        assert!(reason.contains("resume from seq 1"), "{reason}");
    }
}

#[test]
fn malformed_requests_are_logged_at_debug_not_as_warnings_or_errors() {
    let mut process = start_with(&[("API_KEYS", ENTRY_OF_TEST_KEY)]);
    let key = format!("Bearer {TEST_KEY}");
    let requests = [
        format!(
            "POST /streams HTTP/1.1\r\nHost: t\r\nAuthorization: {key}\r\n\
             Content-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{{nope"
        ),
        format!(
            "POST /streams HTTP/1.1\r\nHost: t\r\nAuthorization: {key}\r\n\
             Content-Type: text/plain\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
        "GET /streams HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer wrong\r\nConnection: close\r\n\r\n"
            .to_owned(),
        "GET /streams/not-an-id HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_owned(),
        "BREW /coffee HTCPCP/1.0\r\n\r\n".to_owned(),
        "POST /webhooks/livekit HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
         Authorization: forged\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
            .to_owned(),
    ];

    let listening = json_line(&process.logs.lock().unwrap(), "orchestrator listening");
    let grpc_port: SocketAddr = listening["grpc"].as_str().unwrap().parse().unwrap();
    let grpc = SocketAddr::from(([127, 0, 0, 1], grpc_port.port()));

    for _ in 0..20 {
        for request in &requests {
            let answer = exchange(process.addr, request);
            assert!(!answer.starts_with("HTTP/1.1 5"), "{answer}");
        }
        // Not HTTP/2 at all, then an HTTP/2 preface followed by garbage.
        for garbage in [
            &b"hello gRPC\r\n\r\n"[..],
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff\xff",
        ] {
            let mut socket = TcpStream::connect(grpc).unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let _ = socket.write_all(garbage);
            let _ = socket.read(&mut [0u8; 256]);
        }
    }
    let metrics = get(process.addr, "/metrics", Some(&key));
    signal(&process, "TERM");
    assert!(wait_for_exit(&mut process, Duration::from_secs(20)).success());

    let logs = process.logs.lock().unwrap().clone();
    let loud: Vec<&String> = logs
        .iter()
        .filter(|line| line.contains("\"level\":\"WARN\"") || line.contains("\"level\":\"ERROR\""))
        .collect();
    assert!(loud.is_empty(), "{loud:#?}");
    // What actix answered 400 without a route (`BREW /coffee HTCPCP/1.0`, 20 times) is counted.
    let malformed = metrics
        .lines()
        .find_map(|line| line.strip_prefix("orchestrator_http_malformed_requests_total "))
        .and_then(|value| value.trim().parse::<f64>().ok());
    assert!(malformed.is_some_and(|n| n >= 20.0), "{metrics}");
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
