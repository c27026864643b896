//! Resource abuse: frames that declare gigabytes, bodies and heads sent one byte a second,
//! thousands of idle connections, a thousand PATCHes of the largest metadata allowed. Memory
//! and open files stay bounded and other clients are served throughout.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use orchestrator_tests::process::{Orchestrator, Peak};
use orchestrator_tests::raw::{drain_until_closed, frame, ws_handshake};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cluster::{create_stream, Cluster};

/// Generous bounds: the debug binary idles at a few tens of MiB.
const RSS_GROWTH_LIMIT_KIB: u64 = 100 * 1024;

/// Requests from 127.0.0.2 (the abuse comes from 127.0.0.1): served throughout?
async fn served(base: &str) -> bool {
    let client = orchestrator_tests::http_client_from(
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
        Duration::from_secs(5),
    );
    let health = client.get(format!("{base}/health")).send().await;
    let created = client
        .post(format!("{base}/streams"))
        .json(&json!({}))
        .send()
        .await;
    health.is_ok_and(|r| r.status().is_success()) && created.is_ok_and(|r| r.status().is_success())
}

/// What one attacker saw: the server's close code (if any), how long after the header the
/// connection was closed (if it was within the limit), MiB it managed to send.
struct Refusal {
    close_code: Option<u16>,
    closed_after: Option<Duration>,
    sent_mib: usize,
}

/// Sends a frame header declaring 1 GiB, then keeps sending payload (at most 64 MiB) while
/// reading what the server answers until it closes the connection.
async fn declare_a_gigabyte(addr: std::net::SocketAddr) -> Refusal {
    let socket = ws_handshake(addr, "/ws").await.expect("a WebSocket");
    let (mut reader, mut writer) = socket.into_split();
    let started = tokio::time::Instant::now();
    let sender = tokio::spawn(async move {
        let mut sent = 0usize;
        if writer
            .write_all(&frame(1, true, true, &[], Some(1 << 30)))
            .await
            .is_ok()
        {
            let chunk = vec![b'x'; 64 * 1024];
            while sent < 64 << 20 {
                match tokio::time::timeout(Duration::from_secs(2), writer.write_all(&chunk)).await {
                    Ok(Ok(())) => sent += chunk.len(),
                    Ok(Err(_)) | Err(_) => break,
                }
            }
        }
        sent >> 20
    });
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = started + Duration::from_secs(10);
    let closed_after = loop {
        match tokio::time::timeout_at(deadline, reader.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => break Some(started.elapsed()),
            Ok(Ok(n)) => answer.extend_from_slice(&buffer[..n]),
            Err(_) => break None,
        }
    };
    let close_code = answer
        .windows(4)
        .find(|w| w[0] == 0x88 && w[1] >= 2)
        .map(|w| u16::from_be_bytes([w[2], w[3]]));
    Refusal {
        close_code,
        closed_after,
        sent_mib: sender.await.unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frames_that_declare_a_gigabyte_are_refused_from_their_header() {
    let server = Orchestrator::start(&[]);
    let rss_before = server.rss_kib();
    let peak = Peak::sample(server.pid());
    let attackers: Vec<_> = (0..8)
        .map(|_| tokio::spawn(declare_a_gigabyte(server.http)))
        .collect();
    let during = served(&server.base()).await;
    let mut refusals = Vec::new();
    for attacker in attackers {
        refusals.push(attacker.await.unwrap());
    }
    let (peak_rss, _) = peak.finish();
    let sent: Vec<usize> = refusals.iter().map(|r| r.sent_mib).collect();
    let closed: Vec<Option<Duration>> = refusals.iter().map(|r| r.closed_after).collect();
    eprintln!(
        "huge frames: 8 connections declaring 1 GiB; MiB each sent: {sent:?} (the server \
         discards what arrives while it closes); closed after {closed:?}; RSS {rss_before} → \
         peak {peak_rss} KiB"
    );
    assert!(during, "other clients are served meanwhile");
    assert!(
        peak_rss - rss_before.min(peak_rss) < RSS_GROWTH_LIMIT_KIB,
        "RSS grew by {} KiB: the payload was buffered",
        peak_rss - rss_before
    );
    for refusal in &refusals {
        // Refused on the header: told 1009 (message too big) before the payload could arrive;
        // a server that read on would wait for the rest of the gigabyte and say nothing.
        assert_eq!(refusal.close_code, Some(1009), "closed with 1009 (too big)");
        // Then the connection is closed, after at most the disconnect grace (1 s) for the
        // client to read the close frame.
        assert!(
            refusal
                .closed_after
                .is_some_and(|t| t < Duration::from_secs(5)),
            "the server closed the connection within 5 s: {closed:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bodies_and_heads_sent_a_byte_a_second_are_cut_off_and_others_served() {
    let server = Orchestrator::start(&[]);
    let fds_before = server.open_fds();
    let mut slow = Vec::new();
    for n in 0..200 {
        let addr = server.http;
        slow.push(tokio::spawn(async move {
            let mut socket = TcpStream::connect(addr).await.unwrap();
            let head = "POST /streams HTTP/1.1\r\nHost: slow\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n";
            let drip = if n % 2 == 0 {
                head.as_bytes().to_vec()
            } else {
                socket.write_all(head.as_bytes()).await.unwrap();
                vec![b' '; 1000]
            };
            // One byte a second for at most 30 s: a server that never times the client out
            // keeps the connection for the whole drip.
            for byte in drip.into_iter().take(30) {
                if socket.write_all(&[byte]).await.is_err()
                    || drain_until_closed(&mut socket, Duration::from_secs(1)).await
                {
                    return true;
                }
            }
            false
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = served(&server.base()).await;
    let peak_fds = server.open_fds();
    let mut closed = 0;
    for task in slow {
        closed += usize::from(task.await.unwrap());
    }
    let fds_after = server.open_fds();
    eprintln!(
        "slow clients: 200 (100 heads, 100 bodies, a byte a second); closed by the server \
         within 30 s: {closed}; fds {fds_before} → {peak_fds} → {fds_after}"
    );
    assert!(during, "other clients are served meanwhile");
    assert!(
        fds_after < fds_before + 50,
        "open files back down: {fds_after}"
    );
    assert_eq!(
        closed, 200,
        "every slow head and body is timed out by the server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousands_of_idle_connections_leave_open_files_and_memory_bounded() {
    let server = Orchestrator::start(&[
        ("APP__REALTIME__HEARTBEAT_INTERVAL_MS", "500"),
        ("APP__REALTIME__CLIENT_TIMEOUT_MS", "2000"),
    ]);
    let (fds_before, rss_before) = (server.open_fds(), server.rss_kib());
    let peak = Peak::sample(server.pid());
    let mut idle = Vec::new();
    for _ in 0..3_000 {
        match TcpStream::connect(server.http).await {
            Ok(socket) => idle.push(socket),
            Err(_) => break,
        }
    }
    let mut websockets = Vec::new();
    for _ in 0..300 {
        if let Some(socket) = ws_handshake(server.http, "/ws").await {
            websockets.push(socket);
        }
    }
    let during = served(&server.base()).await;
    // Idle past the handshake timeout (5 s) and the WebSocket client timeout (2 s).
    tokio::time::sleep(Duration::from_secs(8)).await;
    let fds_later = server.open_fds();
    let (peak_rss, peak_fds) = peak.finish();
    let held = (idle.len(), websockets.len());
    drop((idle, websockets));
    eprintln!(
        "idle: {held:?} idle TCP / silent WebSocket connections; fds {fds_before} → peak \
         {peak_fds} → {fds_later} after 8 s; RSS {rss_before} → peak {peak_rss} KiB"
    );
    assert!(during, "other clients are served meanwhile");
    assert!(
        fds_later < fds_before + 100,
        "idle connections are closed by the server: {fds_later} fds still open"
    );
    assert!(peak_rss - rss_before.min(peak_rss) < RSS_GROWTH_LIMIT_KIB);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_patches_of_the_largest_metadata_leave_memory_and_the_event_log_bounded() {
    let cluster = Cluster::start(
        1,
        redis_harness::owned_server(),
        &[("APP__STORE__MAX_EVENTS_PER_STREAM", "200")],
    );
    let server = &cluster.instances[0];
    let client = crate::cluster::client();
    let base = server.base();
    let id = create_stream(&client, &base, json!({})).await;
    let rss_before = server.rss_kib();
    let peak = Peak::sample(server.pid());
    // The largest metadata allowed is 16 KiB serialized: one key whose value fills it.
    let value_len = 16 * 1024 - 64;
    let mut refused = 0;
    for n in 0..1_000u32 {
        let fill = char::from(b'a' + (n % 26) as u8)
            .to_string()
            .repeat(value_len);
        let response = client
            .patch(format!("{base}/streams/{id}"))
            .json(&json!({"metadata": {"blob": fill}}))
            .send()
            .await
            .unwrap();
        refused += usize::from(!response.status().is_success());
    }
    let (peak_rss, _) = peak.finish();
    let events_key = format!("{}{{{id}}}:events", cluster.prefix);
    let logged: usize = cluster
        .redis_cli(&["XLEN", &events_key])
        .trim()
        .parse()
        .unwrap();
    let redis_memory = cluster.redis_cli(&["INFO", "memory"]);
    let used: u64 = redis_memory
        .lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|bytes| bytes.trim().parse().ok())
        .unwrap();
    eprintln!(
        "big metadata: 1000 PATCHes of {value_len} bytes ({refused} refused); RSS {rss_before} \
         → peak {peak_rss} KiB; event log {logged} entries; Redis used_memory {} KiB",
        used / 1024
    );
    assert_eq!(refused, 0, "the largest allowed metadata is accepted");
    assert!(peak_rss - rss_before.min(peak_rss) < RSS_GROWTH_LIMIT_KIB);
    assert!(
        logged <= 400,
        "the log is trimmed to about 200 events: {logged}"
    );
    assert!(used < 64 << 20, "Redis holds {} KiB", used / 1024);
}
