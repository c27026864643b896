//! The real `orchestrator` binary: starts with zero configuration, answers, and on SIGTERM or
//! SIGINT stops accepting, finishes in-flight requests and exits 0 within its grace period,
//! telling WebSocket clients where to resume; secrets never reach its logs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use common::*;

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
    let target_secret = "live_sk_out_of_the_logs";
    let body = format!(
        r#"{{"roomName":"quiet","outputs":[{{"type":"rtmp","targets":["rtmp://live.example.com/app/{target_secret}"]}}]}}"#
    );
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
    let ingested = exchange(
        process.addr,
        &format!(
            "POST /streams/{id}/ingest HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
             Content-Length: 15\r\nConnection: close\r\n\r\n{{\"type\":\"rtmp\"}}"
        ),
    );
    let stream_key = ingested
        .split("\"streamKey\":\"")
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
    assert!(
        !logs.contains(&stream_key),
        "an ingest's stream key leaked into the logs"
    );
    assert!(
        !logs.contains(target_secret),
        "an RTMP target leaked into the logs"
    );
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
