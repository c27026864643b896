use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use reqwest::StatusCode;

use crate::support::instance_settings;
use orchestrator_tests::spawn_app_with;

/// The clients connected to the Redis on `port`, by `CLIENT LIST` (this probe's own
/// connection excluded).
fn clients_of(port: u16) -> usize {
    let mut socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket
        .write_all(b"*2\r\n$6\r\nCLIENT\r\n$4\r\nLIST\r\n")
        .unwrap();
    let mut reader = BufReader::new(socket);
    let mut header = String::new();
    reader.read_line(&mut header).unwrap();
    let length: usize = header.trim_start_matches('$').trim().parse().unwrap();
    let mut list = vec![0; length + 2];
    reader.read_exact(&mut list).unwrap();
    String::from_utf8(list).unwrap().lines().count() - 1
}

/// The client count once it has not changed for 300 ms (the workers connect in the
/// background after start-up), at most 10 s.
async fn settled_clients_of(port: u16) -> usize {
    let mut last = clients_of(port);
    for _ in 0..33 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = clients_of(port);
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

/// Clients of an instance with `workers` HTTP workers on a Redis of its own, after it answered
/// a read (so its connections are in use, not just opened).
async fn redis_clients_with_http_workers(workers: usize) -> usize {
    let redis = redis_harness::owned_server();
    let mut settings = instance_settings(redis.url(), &redis_harness::unique_prefix(), "");
    settings.livekit.url = String::new(); // embedded emulator
    settings.livekit.api_key = String::new();
    settings.livekit.api_secret = String::new();
    settings.http.workers = workers;
    let app = spawn_app_with(settings).await;
    let id = app.new_stream_id().await;
    assert_eq!(app.get_stream(&id).await.status(), StatusCode::OK);
    settled_clients_of(redis.port()).await
}

#[tokio::test]
async fn each_http_worker_talks_to_redis_on_a_connection_of_its_own() {
    let with_one = redis_clients_with_http_workers(1).await;
    let with_three = redis_clients_with_http_workers(3).await;

    assert_eq!(
        with_three,
        with_one + 2,
        "two more workers, two more connections ({with_one} with one worker)"
    );
}
