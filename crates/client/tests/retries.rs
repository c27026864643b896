//! Retries and idempotency keys against a stub service on loopback that answers from a
//! script: a 503 or 429 is retried after its `Retry-After` with the same key, anything else
//! is not, a connection refused before the request left is retried, a lost answer is not,
//! and a call that runs out of retries says so with the service's code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orchestrator_client::{Client, ClientError, CreateStream, RetryPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One answer of the stub.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Reply {
    fn error(status: u16, code: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: format!(
                r#"{{"error": {{"code": "{code}", "message": "scripted", "statusCode": {status}}}}}"#
            ),
        }
    }

    fn retry_after(mut self, secs: u64) -> Self {
        self.headers.push(("Retry-After", secs.to_string()));
        self
    }

    fn created() -> Self {
        Self {
            status: 201,
            headers: vec![("Idempotent-Replayed", "false".into())],
            body: r#"{"id": "8c0e7c1e-6f1a-4c51-9a43-5d1c2f3b4a5e", "roomName": "launch",
                      "status": "active", "metadata": {}, "version": 1, "seq": 1,
                      "createdAt": "2026-12-07T12:00:00.000Z",
                      "updatedAt": "2026-12-07T12:00:00.000Z",
                      "startedAt": "2026-12-07T12:00:00.000Z", "stoppedAt": null,
                      "audience": {"active": 0, "hosts": 0, "viewers": 0, "connected": 0,
                                   "totalJoined": 0},
                      "participants": [], "participantsTruncated": false}"#
                .into(),
        }
    }

    /// Never answers: the client's deadline passes.
    fn silence() -> Self {
        Self {
            status: 0,
            headers: Vec::new(),
            body: String::new(),
        }
    }
}

/// A request as the stub saw it: its request line and headers (names lowercase).
#[derive(Debug, Clone)]
struct Seen {
    line: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A stub service: the n-th request gets the n-th reply (the last one once the script ends).
struct Stub {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Stub {
    async fn start(script: Vec<Reply>) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, script)
    }

    fn serve(listener: TcpListener, script: Vec<Reply>) -> Stub {
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (log, script) = (Arc::clone(&seen), Arc::new(script));
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(answer(socket, Arc::clone(&log), Arc::clone(&script)));
            }
        });
        Stub { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Answers every request of one connection from the script.
async fn answer(mut socket: TcpStream, seen: Arc<Mutex<Vec<Seen>>>, script: Arc<Vec<Reply>>) {
    let mut buffer = Vec::new();
    loop {
        let Some(request) = read_request(&mut socket, &mut buffer).await else {
            return;
        };
        let reply = {
            let mut seen = seen.lock().unwrap();
            seen.push(request);
            script[(seen.len() - 1).min(script.len() - 1)].clone()
        };
        if reply.status == 0 {
            tokio::time::sleep(Duration::from_secs(60)).await;
            return;
        }
        let mut head = format!(
            "HTTP/1.1 {} Scripted\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            reply.status,
            reply.body.len()
        );
        for (name, value) in &reply.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let written = socket.write_all(head.as_bytes()).await;
        if written.is_err() || socket.write_all(reply.body.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// One request's head and body from `socket` (`None` when the connection ends).
async fn read_request(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Seen> {
    let end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let mut chunk = [0; 4096];
        let read = socket.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let line = lines.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < end + length {
        let mut chunk = [0; 4096];
        let read = socket.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    buffer.drain(..end + length);
    Some(Seen { line, headers })
}

fn client(stub: &Stub) -> Client {
    Client::builder(&stub.url)
        .api_key("lso_test-key")
        .build()
        .unwrap()
}

fn is_uuid_v4(key: &str) -> bool {
    uuid::Uuid::parse_str(key).is_ok_and(|id| id.get_version_num() == 4)
}

#[tokio::test]
async fn a_503_is_retried_after_its_retry_after_with_the_same_idempotency_key() {
    let stub = Stub::start(vec![
        Reply::error(503, "store_unavailable").retry_after(1),
        Reply::created(),
    ])
    .await;
    let started = Instant::now();

    let answer = client(&stub)
        .create_stream(&CreateStream::named("launch"))
        .answer()
        .await
        .unwrap();

    assert_eq!(answer.attempts, 2);
    assert_eq!(answer.status, 201);
    assert_eq!(answer.value.room_name, "launch");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1"
    );
    let seen = stub.seen();
    assert_eq!(seen.len(), 2);
    let keys: Vec<&str> = seen
        .iter()
        .map(|s| s.header("idempotency-key").unwrap())
        .collect();
    assert_eq!(keys[0], keys[1], "one logical call, one key");
    assert!(is_uuid_v4(keys[0]), "{}", keys[0]);
    assert_eq!(answer.idempotency_key.as_deref(), Some(keys[0]));
    for request in &seen {
        assert_eq!(request.line, "POST /streams HTTP/1.1");
        assert_eq!(request.header("authorization"), Some("Bearer lso_test-key"));
    }
}

#[tokio::test]
async fn each_call_has_its_own_key_and_a_key_given_is_sent_as_is() {
    let stub = Stub::start(vec![Reply::created()]).await;
    let client = client(&stub);

    client
        .create_stream(&CreateStream::default())
        .await
        .unwrap();
    client
        .create_stream(&CreateStream::default())
        .await
        .unwrap();
    client
        .create_stream(&CreateStream::default())
        .idempotency_key("create-encore-1")
        .await
        .unwrap();

    let keys: Vec<String> = stub
        .seen()
        .iter()
        .map(|s| s.header("idempotency-key").unwrap().to_owned())
        .collect();
    assert_ne!(keys[0], keys[1]);
    assert_eq!(keys[2], "create-encore-1");
}

#[tokio::test]
async fn reads_carry_no_idempotency_key() {
    let stub = Stub::start(vec![Reply::created()]).await;

    client(&stub).stream("some-id").await.unwrap();

    let seen = stub.seen();
    assert_eq!(seen[0].line, "GET /streams/some-id HTTP/1.1");
    assert_eq!(seen[0].header("idempotency-key"), None);
}

#[tokio::test]
async fn retries_that_run_out_give_up_with_the_service_code() {
    let stub = Stub::start(vec![Reply::error(429, "rate_limited").retry_after(0)]).await;
    let client = Client::builder(&stub.url)
        .retry(RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();

    let err = client.list_streams(&Default::default()).await.unwrap_err();

    assert!(
        matches!(err, ClientError::GaveUp { attempts: 3, .. }),
        "{err}"
    );
    assert_eq!(err.code(), Some("rate_limited"));
    assert_eq!(err.status(), Some(429));
    assert_eq!(stub.seen().len(), 3);
}

#[tokio::test]
async fn a_refusal_other_than_503_or_429_is_answered_at_once() {
    let stub = Stub::start(vec![Reply::error(409, "invalid_transition")]).await;

    let err = client(&stub).stop_stream("some-id").await.unwrap_err();

    let api = err.api().expect("the envelope");
    assert_eq!((api.status, api.code.as_str()), (409, "invalid_transition"));
    assert_eq!(stub.seen().len(), 1);
}

#[tokio::test]
async fn a_retry_after_longer_than_the_time_allowed_is_not_waited_for() {
    let stub = Stub::start(vec![
        Reply::error(503, "livekit_unavailable").retry_after(60)
    ])
    .await;
    let started = Instant::now();

    let err = client(&stub)
        .create_stream(&CreateStream::default())
        .await
        .unwrap_err();

    assert_eq!(err.code(), Some("livekit_unavailable"));
    assert_eq!(
        err.api().unwrap().retry_after,
        Some(Duration::from_secs(60))
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(stub.seen().len(), 1);
}

#[tokio::test]
async fn a_connection_refused_before_the_request_left_is_retried() {
    let reserved = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = reserved.local_addr().unwrap();
    drop(reserved);
    let client = Client::builder(&format!("http://{addr}"))
        .retry(RetryPolicy {
            max_attempts: 20,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    let late_start = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        Stub::serve(
            TcpListener::bind(addr).await.unwrap(),
            vec![Reply::created()],
        )
    });

    let answer = client
        .create_stream(&CreateStream::default())
        .answer()
        .await
        .unwrap();

    assert!(answer.attempts > 1, "refused at first: {}", answer.attempts);
    assert_eq!(
        late_start.await.unwrap().seen().len(),
        1,
        "sent once it could be"
    );
}

#[tokio::test]
async fn an_answer_that_never_comes_is_a_timeout_and_not_retried() {
    let stub = Stub::start(vec![Reply::silence()]).await;
    let client = Client::builder(&stub.url)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();

    let err = client
        .create_stream(&CreateStream::default())
        .await
        .unwrap_err();

    assert!(matches!(err, ClientError::Timeout(_)), "{err}");
    assert_eq!(
        stub.seen().len(),
        1,
        "the request may have executed: not sent twice"
    );
}

#[tokio::test]
async fn a_body_that_is_not_an_envelope_still_gives_a_code_and_the_text() {
    let stub = Stub::start(vec![Reply {
        status: 502,
        headers: Vec::new(),
        body: "upstream went away".into(),
    }])
    .await;

    let err = client(&stub).health().await.unwrap_err();

    let api = err.api().unwrap();
    assert_eq!(api.code, "http_502");
    assert_eq!(api.message, "upstream went away");
}
