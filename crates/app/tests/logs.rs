//! The real binary's logs: one access line per request with its request id, client, user agent,
//! size, query (credentials redacted) and trace; the request id and trace on what a request
//! logs, no colour codes off a terminal, and malformed requests and WebSocket frames counted
//! rather than logged one ERROR line each.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::*;

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

/// Opens a WebSocket on `path` (with `authorization`, if any), sends `frame` and reads until
/// the server ends the connection: the close code it sent.
fn close_code_for(addr: SocketAddr, path: &str, authorization: &str, frame: &[u8]) -> Option<u16> {
    let mut socket = TcpStream::connect(addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let handshake = format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         {authorization}\r\n"
    );
    socket.write_all(handshake.as_bytes()).unwrap();
    socket.write_all(frame).unwrap();
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer);
    let head_end = answer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    assert!(answer.starts_with(b"HTTP/1.1 101"), "{answer:?}");
    // The server's frames: `connected`, then the close (short, unmasked).
    let mut frames = &answer[head_end..];
    while let [first, length, rest @ ..] = frames {
        let length = usize::from(*length);
        if first & 0x0F == 0x8 {
            return Some(u16::from_be_bytes([rest[0], rest[1]]));
        }
        frames = &rest[length..];
    }
    None
}

/// A masked client frame of at most 125 bytes.
fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![first, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(payload);
    frame
}

#[test]
fn websocket_frames_rfc_6455_forbids_are_closed_and_counted_not_logged_as_warnings_or_errors() {
    let mut process = start_with(&[("API_KEYS", &format!("{ENTRY_OF_TEST_KEY}:read"))]);
    let key = format!("Authorization: Bearer {TEST_KEY}\r\n");
    let issued = exchange(
        process.addr,
        &format!(
            "POST /ws-tickets HTTP/1.1\r\nHost: t\r\n{key}Content-Length: 0\r\n\
             Connection: close\r\n\r\n"
        ),
    );
    let ticket: serde_json::Value =
        serde_json::from_str(issued.split_once("\r\n\r\n").unwrap().1).unwrap();
    let with_ticket = format!("/ws?ticket={}", ticket["ticket"].as_str().unwrap());
    // Fragmented ping, pong and close (actix-http's codec logs each as an ERROR), reserved
    // bits, a reserved opcode, text that is not UTF-8, a close with an invalid code.
    let hostile: [(Vec<u8>, u16); 7] = [
        (client_frame(0x09, b"ping"), 1002),
        (client_frame(0x0A, b"pong"), 1002),
        (client_frame(0x08, &[0x03, 0xE8]), 1002),
        (client_frame(0xC1, b"rsv"), 1002),
        (client_frame(0x83, b""), 1002),
        (client_frame(0x81, &[0xC0, 0xAF]), 1007),
        (client_frame(0x88, &[0x03, 0xED]), 1002),
    ];

    for (path, authorization) in [("/ws", key.as_str()), (with_ticket.as_str(), "")] {
        for (frame, code) in &hostile {
            let closed = close_code_for(process.addr, path, authorization, frame);
            assert_eq!(closed, Some(*code), "{frame:x?} on {path}");
        }
    }
    let metrics = get(
        process.addr,
        "/metrics",
        Some(&format!("Bearer {TEST_KEY}")),
    );
    signal(&process, "TERM");
    assert!(wait_for_exit(&mut process, Duration::from_secs(20)).success());

    let logs = process.logs.lock().unwrap().clone();
    let loud: Vec<&String> = logs
        .iter()
        .filter(|line| line.contains("\"level\":\"WARN\"") || line.contains("\"level\":\"ERROR\""))
        .collect();
    assert!(loud.is_empty(), "{loud:#?}");
    let fragmented = metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix(
                "orchestrator_ws_protocol_errors_total{reason=\"fragmented_control\"} ",
            )
        })
        .and_then(|value| value.trim().parse::<f64>().ok());
    assert_eq!(fragmented, Some(6.0), "{metrics}");
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

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// The access lines of `request_id` in the logs of an exited process.
fn access_lines(process: &Process, request_id: &str) -> Vec<serde_json::Value> {
    json_logs(process)
        .into_iter()
        .filter(|log| log["target"] == "orchestrator_http::access")
        .filter(|log| log["request_id"] == request_id)
        .collect()
}

#[test]
fn the_access_line_names_the_client_its_agent_the_size_query_and_trace() {
    let mut process = start();

    let answer = exchange(
        process.addr,
        &format!(
            "GET /streams?limit=2&status=active HTTP/1.1\r\nHost: test\r\nX-Request-Id: trace-9\r\n\
             User-Agent: probe/1.0\t(é)\r\n\
             traceparent: 00-{TRACE_ID}-{CALLER_SPAN}-01\r\nConnection: close\r\n\r\n"
        ),
    );
    signal(&process, "TERM");
    assert!(wait_for_exit(&mut process, Duration::from_secs(20)).success());

    let body = answer.split_once("\r\n\r\n").unwrap().1;
    let access = access_lines(&process, "trace-9");
    assert_eq!(access.len(), 1, "{access:#?}");
    let line = &access[0];
    assert_eq!(line["client_ip"], "127.0.0.1");
    assert_eq!(
        line["user_agent"], "probe/1.0\t(é)",
        "a tab and UTF-8 kept, escaped"
    );
    assert_eq!(line["query"], "limit=2&status=active");
    assert_eq!(line["response_bytes"], body.len());
    assert_eq!(line["trace_id"], TRACE_ID);
    assert_eq!(line["parent_span_id"], CALLER_SPAN);
    let span = line["span_id"].as_str().unwrap();
    assert!(
        span.len() == 16 && span != CALLER_SPAN,
        "a span of its own: {span}"
    );
}

#[test]
fn a_websocket_ticket_in_the_query_never_reaches_the_logs() {
    let mut process = start();
    let ticket = "v1.a-ticket-that-must-stay-out-of-the-logs";

    exchange(
        process.addr,
        &format!(
            "GET /ws?ticket={ticket}&afterSeq=1 HTTP/1.1\r\nHost: test\r\nX-Request-Id: ws-1\r\n\
             traceparent: not-a-traceparent\r\nConnection: close\r\n\r\n"
        ),
    );
    signal(&process, "TERM");
    assert!(wait_for_exit(&mut process, Duration::from_secs(20)).success());

    let logs = process.logs.lock().unwrap().join("\n");
    assert!(!logs.contains(ticket), "the ticket leaked:\n{logs}");
    let access = access_lines(&process, "ws-1");
    assert_eq!(access.len(), 1, "{logs}");
    assert_eq!(access[0]["query"], "ticket=[redacted]&afterSeq=1");
    assert!(
        access[0].get("trace_id").is_none(),
        "an invalid traceparent is ignored"
    );
}

#[test]
fn what_a_request_logs_carries_its_request_id_and_trace() {
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
        &format!(
            "POST /streams HTTP/1.1\r\nHost: test\r\nX-Request-Id: trace-8\r\n\
             traceparent: 00-{TRACE_ID}-{CALLER_SPAN}-01\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    );
    signal(&process, "TERM");
    assert!(wait_for_exit(&mut process, Duration::from_secs(20)).success());

    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    let logs = json_logs(&process);
    let warning = logs
        .iter()
        .find(|log| log["message"] == "LiveKit unavailable")
        .expect("the handler logged the outage");
    assert_eq!(warning["request_id"], "trace-8", "{warning}");
    assert_eq!(warning["trace_id"], TRACE_ID, "{warning}");
    let access = access_lines(&process, "trace-8");
    assert_eq!(
        warning["span_id"], access[0]["span_id"],
        "the request's span, in both"
    );
}

#[test]
fn human_logs_carry_no_colour_codes_when_stdout_is_not_a_terminal() {
    let mut process = start_with(&[("LOG_FORMAT", "human")]);

    exchange(
        process.addr,
        &format!(
            "GET /health HTTP/1.1\r\nHost: test\r\n\
             traceparent: 00-{TRACE_ID}-{CALLER_SPAN}-01\r\nConnection: close\r\n\r\n"
        ),
    );
    signal(&process, "TERM");
    assert!(wait_for_exit(&mut process, Duration::from_secs(20)).success());

    let logs = process.logs.lock().unwrap().join("\n");
    assert!(logs.contains("orchestrator listening"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "ANSI escape codes in: {logs}");
    let access = logs
        .lines()
        .find(|line| line.contains("orchestrator_http::access"))
        .expect("an access line");
    assert!(
        access.contains(&format!("trace_id=\"{TRACE_ID}\"")),
        "{access}"
    );
    assert!(access.contains("client_ip=127.0.0.1"), "{access}");
}
