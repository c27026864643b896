//! The hostile crowd: each member is bounded in count and time, and tallies what it saw.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use orchestrator_tests::raw::{drain_until_closed, frame, ws_handshake, Rng};
use reqwest::Method;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Answers by status, with an example request for each 5xx.
#[derive(Debug, Default)]
pub struct Tally {
    pub sent: usize,
    pub by_status: BTreeMap<u16, usize>,
    pub dropped: usize,
    pub server_errors: Vec<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.sent += other.sent;
        self.dropped += other.dropped;
        for (status, count) in other.by_status {
            *self.by_status.entry(status).or_default() += count;
        }
        self.server_errors.extend(other.server_errors);
    }
}

const METHODS: &[&str] = &["GET", "POST", "PATCH", "DELETE", "PUT", "OPTIONS", "HEAD"];
const PATHS: &[&str] = &[
    "/streams",
    "/streams/{id}",
    "/streams/{id}/join",
    "/streams/{id}/leave",
    "/streams/{id}/state",
    "/streams/{id}/participants",
    "/webhooks/livekit",
    "/health",
    "/health/ready",
    "/ws",
    "/",
    "/metrics",
    "/streams/{id}/{id}",
    "/%FF%FE",
];
const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/json; charset=utf-8",
    "application/merge-patch+json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "",
];
const QUERIES: &[&str] = &[
    "?limit=0",
    "?limit=lots",
    "?status=%00",
    "?cursor=%FF",
    "?active=maybe",
    "?limit=1000",
];
const NAMES: &[&str] = &["ada", "bob", "eve", "mallory", "trudy"];

/// A random body: plausible requests, garbage, deep nesting, big and unicode-laden values.
fn random_body(rng: &mut Rng) -> Vec<u8> {
    match rng.below(9) {
        0 => Vec::new(),
        1 => {
            let len = rng.below(300);
            rng.bytes(len)
        }
        2 => {
            let depth = 10 + rng.below(3000);
            format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
        }
        3 => json!({"metadata": {"blob": "x".repeat(rng.below(70_000))}})
            .to_string()
            .into_bytes(),
        4 => json!({"participantName": format!("{}\u{202E}{}", rng.pick(NAMES), rng.below(9))})
            .to_string()
            .into_bytes(),
        5 => json!({"participantName": rng.pick(NAMES), "role": rng.pick(&["host", "viewer", "admin"])})
            .to_string()
            .into_bytes(),
        6 => json!({"metadata": {"n": rng.below(1000), "s": "\u{0000}\u{FEFF}"}})
            .to_string()
            .into_bytes(),
        7 => json!({"status": rng.pick(&["active", "stopped", "live", "creating", ""])})
            .to_string()
            .into_bytes(),
        _ => br#"{"roomName": "\ud800", "metadata": {"a": 1e999}}"#.to_vec(),
    }
}

/// `count` random requests from `seed`, `concurrency` at a time, at streams of `ids` or junk.
pub async fn random_requests(
    client: reqwest::Client,
    base: String,
    ids: Vec<String>,
    seed: u64,
    count: usize,
    concurrency: usize,
) -> Tally {
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let (client, base, ids) = (client.clone(), base.clone(), ids.clone());
        let mut rng = Rng::new(seed ^ (worker as u64 + 1).wrapping_mul(0x9E37_79B9));
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            for _ in 0..count / concurrency {
                let mut method = Method::from_bytes(rng.pick(METHODS).as_bytes()).unwrap();
                if method == Method::DELETE && rng.chance(90) {
                    // Keep most streams alive, so the other requests reach them.
                    method = Method::GET;
                }
                let id = if rng.chance(70) {
                    rng.pick(&ids).clone()
                } else {
                    rng.pick(&[
                        "x",
                        "00000000-0000-0000-0000-000000000000",
                        "%E2%80%AE",
                        "..%2f..",
                    ])
                    .to_string()
                };
                let mut path = rng.pick(PATHS).replace("{id}", &id);
                if rng.chance(20) {
                    let query: &&str = rng.pick(QUERIES);
                    path.push_str(query);
                }
                let mut request = client
                    .request(method.clone(), format!("{base}{path}"))
                    .body(random_body(&mut rng));
                let content_type = *rng.pick(CONTENT_TYPES);
                if !content_type.is_empty() {
                    request = request.header("Content-Type", content_type);
                }
                if rng.chance(10) {
                    request =
                        request.header("If-Match", *rng.pick(&["\"1\"", "*", "junk", "\"999\""]));
                }
                if rng.chance(10) {
                    request = request.header("Idempotency-Key", format!("k-{}", rng.below(20)));
                }
                if rng.chance(5) {
                    request = request.header("Origin", "https://evil.example");
                }
                tally.sent += 1;
                match request.send().await {
                    Ok(response) => {
                        let status = response.status();
                        *tally.by_status.entry(status.as_u16()).or_default() += 1;
                        let body = response.bytes().await.unwrap_or_default();
                        if status.is_server_error() {
                            tally.server_errors.push(format!(
                                "{method} {path} → {status}: {}",
                                String::from_utf8_lossy(&body)
                                    .chars()
                                    .take(200)
                                    .collect::<String>()
                            ));
                        }
                    }
                    Err(_) => tally.dropped += 1,
                }
            }
            tally
        }));
    }
    let mut tally = Tally::default();
    for worker in workers {
        tally.merge(worker.await.expect("a request worker"));
    }
    tally
}

/// `connections` raw WebSockets sending `frames` random frames each: any opcode, masked or
/// not, fragments, invalid UTF-8, declared lengths that lie, and real subscriptions.
/// Returns the frames sent.
pub async fn random_frames(
    addr: SocketAddr,
    ids: Vec<String>,
    seed: u64,
    connections: usize,
    frames: usize,
) -> usize {
    let mut tasks = Vec::new();
    for connection in 0..connections {
        let ids = ids.clone();
        let mut rng = Rng::new(seed ^ (connection as u64 + 7).wrapping_mul(0xA24B_AED4));
        tasks.push(tokio::spawn(async move {
            let Some(socket) = ws_handshake(addr, "/ws").await else {
                return 0;
            };
            let (mut reader, mut writer) = socket.into_split();
            let drain = tokio::spawn(async move {
                let mut sink = tokio::io::sink();
                let _ = tokio::time::timeout(
                    Duration::from_secs(20),
                    tokio::io::copy(&mut reader, &mut sink),
                )
                .await;
            });
            let mut sent = 0;
            for _ in 0..frames {
                let payload = match rng.below(5) {
                    0 => json!({"type": "subscribe", "streamId": rng.pick(&ids), "afterSeq": rng.below(5)})
                        .to_string()
                        .into_bytes(),
                    1 => {
                        let len = rng.below(2000);
                        rng.bytes(len)
                    }
                    2 => b"{\"type\":\"subscribe\",\"streamId\":\"\xff\xfe\"}".to_vec(),
                    3 => json!({"type": rng.pick(&["ping", "unsubscribe", "x"]), "streamId": "\u{202E}"})
                        .to_string()
                        .into_bytes(),
                    _ => Vec::new(),
                };
                let opcode = *rng.pick(&[0u8, 1, 1, 1, 2, 3, 8, 9, 10, 15]);
                let declared = rng.chance(5).then(|| payload.len() as u64 + rng.below(100) as u64);
                let bytes = frame(opcode, !rng.chance(10), !rng.chance(5), &payload, declared);
                if writer.write_all(&bytes).await.is_err() {
                    break;
                }
                sent += 1;
            }
            let _ = writer.shutdown().await;
            drain.abort();
            sent
        }));
    }
    let mut sent = 0;
    for task in tasks {
        sent += task.await.unwrap_or(0);
    }
    sent
}

/// Slow-loris clients: half drip a request head, half a body, one byte per second for
/// `duration`. Returns how many the server closed meanwhile.
pub async fn slow_loris(addr: SocketAddr, connections: usize, duration: Duration) -> usize {
    let mut tasks = Vec::new();
    for connection in 0..connections {
        tasks.push(tokio::spawn(async move {
            let Ok(mut socket) = TcpStream::connect(addr).await else {
                return true;
            };
            let head = "POST /streams HTTP/1.1\r\nHost: loris\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n";
            let drip: Vec<u8> = if connection % 2 == 0 {
                head.as_bytes().to_vec()
            } else {
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return true;
                }
                vec![b' '; 1000]
            };
            let deadline = tokio::time::Instant::now() + duration;
            for byte in drip {
                if tokio::time::Instant::now() >= deadline {
                    return false;
                }
                if socket.write_all(&[byte]).await.is_err() {
                    return true;
                }
                if drain_until_closed(&mut socket, Duration::from_secs(1)).await {
                    return true;
                }
            }
            false
        }));
    }
    let mut closed = 0;
    for task in tasks {
        closed += usize::from(task.await.unwrap_or(true));
    }
    closed
}

/// `count` connections that connect and say nothing, held until dropped.
pub async fn idle_connections(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut sockets = Vec::with_capacity(count);
    for _ in 0..count {
        match TcpStream::connect(addr).await {
            Ok(socket) => sockets.push(socket),
            Err(_) => break,
        }
    }
    sockets
}

/// A WebSocket frame that declares `declared` bytes, followed by up to `send` bytes of it
/// (bounded by `limit`). Returns the bytes the server took before it closed the connection.
pub async fn huge_declared_frame(
    addr: SocketAddr,
    declared: u64,
    send: usize,
    limit: Duration,
) -> usize {
    let Some(mut socket) = ws_handshake(addr, "/ws").await else {
        return 0;
    };
    let header = frame(1, true, true, &[], Some(declared));
    if socket.write_all(&header).await.is_err() {
        return 0;
    }
    let chunk = vec![b'x'; 64 * 1024];
    let mut taken = 0;
    let deadline = tokio::time::Instant::now() + limit;
    while taken < send {
        match tokio::time::timeout_at(deadline, socket.write_all(&chunk)).await {
            Ok(Ok(())) => taken += chunk.len(),
            Ok(Err(_)) | Err(_) => break,
        }
    }
    taken
}
