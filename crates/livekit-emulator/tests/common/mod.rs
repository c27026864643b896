//! Shared set-up for the integration tests: a running emulator on a loopback port, token
//! helpers, and a webhook sink that records what the emulator delivers.
#![allow(dead_code)]

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use livekit_api::access_token::{AccessToken, TokenVerifier, VideoGrants};
use livekit_api::services::egress::EgressClient;
use livekit_api::services::ingress::IngressClient;
use livekit_api::services::room::RoomClient;
use livekit_api::webhooks::WebhookReceiver;
use livekit_emulator::{serve, Emulator, EmulatorConfig};
use livekit_protocol as proto;
use tokio::sync::{mpsc, oneshot};

pub const KEY: &str = "test-key";
pub const SECRET: &str = "test-secret-that-is-at-least-32-characters";
/// Upper bound for any single test, so a hang fails instead of stalling the suite.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(30);
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs a test body, failing it if it takes longer than [`TEST_TIMEOUT`].
pub async fn within<T>(body: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_TIMEOUT, body)
        .await
        .expect("test took too long")
}

/// An emulator serving HTTP on 127.0.0.1 at a free port; stops when dropped.
pub struct RunningEmulator {
    pub emulator: Emulator,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl RunningEmulator {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The official LiveKit client, authenticated with the emulator's credentials.
    pub fn room_client(&self) -> RoomClient {
        RoomClient::with_api_key(&self.url(), KEY, SECRET)
            .with_request_timeout(Duration::from_secs(5))
    }

    /// The official Ingress client, authenticated with the emulator's credentials.
    pub fn ingress_client(&self) -> IngressClient {
        IngressClient::with_api_key(&self.url(), KEY, SECRET)
            .with_request_timeout(Duration::from_secs(5))
    }

    /// The official Egress client, authenticated with the emulator's credentials.
    pub fn egress_client(&self) -> EgressClient {
        EgressClient::with_api_key(&self.url(), KEY, SECRET)
            .with_request_timeout(Duration::from_secs(5))
    }

    pub fn twirp_url(&self, method: &str) -> String {
        format!("{}/twirp/livekit.RoomService/{method}", self.url())
    }

    /// The URL of a method of any LiveKit Twirp service, e.g. `("Ingress", "CreateIngress")`.
    pub fn service_url(&self, service: &str, method: &str) -> String {
        format!("{}/twirp/livekit.{service}/{method}", self.url())
    }

    /// POSTs JSON to one of the emulator's simulation routes (`/emulator/...`).
    pub async fn simulate(&self, path: &str, body: serde_json::Value) -> RawResponse {
        let url = format!("{}{path}", self.url());
        post_text(&url, "application/json", None, &body.to_string()).await
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub fn config() -> EmulatorConfig {
    EmulatorConfig::new(KEY, SECRET)
}

pub fn start_emulator(config: EmulatorConfig) -> RunningEmulator {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    let emulator = Emulator::new(config);
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    tokio::spawn(serve(listener, emulator.clone(), shutdown));
    RunningEmulator {
        emulator,
        addr,
        stop: Some(stop),
    }
}

/// A token a media client would use to join `room` as `identity`.
pub fn join_token(room: &str, identity: &str) -> String {
    join_token_with(SECRET, room, identity, |_| {})
}

pub fn join_token_with(
    secret: &str,
    room: &str,
    identity: &str,
    adjust: impl FnOnce(&mut VideoGrants),
) -> String {
    let mut grants = VideoGrants {
        room_join: true,
        room: room.to_owned(),
        ..Default::default()
    };
    adjust(&mut grants);
    AccessToken::with_api_key(KEY, secret)
        .with_identity(identity)
        .with_name(&format!("{identity} name"))
        .with_grants(grants)
        .to_jwt()
        .expect("sign join token")
}

/// A server token with exactly the given grants.
pub fn server_token(grants: VideoGrants) -> String {
    AccessToken::with_api_key(KEY, SECRET)
        .with_grants(grants)
        .to_jwt()
        .expect("sign server token")
}

/// One webhook as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub content_type: String,
    pub authorization: String,
    pub body: String,
}

impl Delivered {
    /// Verifies the delivery exactly as an application using the official SDK would.
    pub fn verify(&self) -> proto::WebhookEvent {
        WebhookReceiver::new(TokenVerifier::with_api_key(KEY, SECRET))
            .receive(&self.body, &self.authorization)
            .expect("webhook passes the official WebhookReceiver")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("webhook body is JSON")
    }
}

/// An HTTP endpoint on a free loopback port that records every POST it receives.
pub struct WebhookSink {
    pub url: String,
    received: mpsc::UnboundedReceiver<Delivered>,
    handle: ServerHandle,
}

impl WebhookSink {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let url = format!(
            "http://{}/webhook",
            listener.local_addr().expect("local address")
        );
        let (tx, received) = mpsc::unbounded_channel();
        let server = HttpServer::new(move || {
            let tx = tx.clone();
            App::new().route(
                "/webhook",
                web::post().to(move |req: HttpRequest, body: web::Bytes| {
                    let tx = tx.clone();
                    async move {
                        let header = |name: &str| {
                            req.headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned()
                        };
                        let _ = tx.send(Delivered {
                            content_type: header("content-type"),
                            authorization: header("authorization"),
                            body: String::from_utf8_lossy(&body).into_owned(),
                        });
                        HttpResponse::Ok().finish()
                    }
                }),
            )
        })
        .listen(listener)
        .expect("listen")
        .disable_signals()
        .workers(1)
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url,
            received,
            handle,
        }
    }

    /// Everything delivered so far; call after `Emulator::flush_webhooks`.
    pub fn drain(&mut self) -> Vec<Delivered> {
        let mut all = Vec::new();
        while let Ok(delivered) = self.received.try_recv() {
            all.push(delivered);
        }
        all
    }
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        // Stopping is async; the server dies with the test runtime anyway.
        drop(tokio::spawn(async move { handle.stop(false).await }));
    }
}

/// Starts an emulator that delivers its webhooks to a fresh sink.
pub fn start_with_webhooks() -> (RunningEmulator, WebhookSink) {
    let sink = WebhookSink::start();
    let running = start_emulator(config().with_webhook_url(sink.url.clone()));
    (running, sink)
}

/// Flushes the emulator's webhook queue and returns the verified events, in delivery order.
pub async fn delivered_events(
    emulator: &Emulator,
    sink: &mut WebhookSink,
) -> Vec<proto::WebhookEvent> {
    assert!(
        emulator.flush_webhooks(FLUSH_TIMEOUT).await,
        "webhooks flushed in time"
    );
    sink.drain().iter().map(Delivered::verify).collect()
}

pub fn event_names(events: &[proto::WebhookEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event.as_str()).collect()
}

/// A response read by [`http_post`].
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("response body is JSON")
    }
}

/// POSTs over a fresh loopback connection. Hand-rolled because a `reqwest::Client` cannot be
/// built in this workspace without installing a rustls crypto provider first.
pub async fn http_post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> RawResponse {
    http_call("POST", url, headers, body).await
}

/// GETs over a fresh loopback connection.
pub async fn http_get(url: &str) -> RawResponse {
    http_call("GET", url, &[], b"").await
}

async fn http_call(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> RawResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .expect("connect");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write");
    // Read up to the end of the body the head announces rather than to EOF: actix may wait
    // for the client to hang up before it closes, which would cost a second per request.
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    let (split, expected) = loop {
        let read = stream.read(&mut chunk).await.expect("read");
        raw.extend_from_slice(&chunk[..read]);
        if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
            let length = head
                .split("\r\n")
                .filter_map(|l| l.strip_prefix("content-length:"))
                .find_map(|v| v.trim().parse::<usize>().ok());
            break (split, length);
        }
        assert!(
            read > 0,
            "connection closed before a complete response head"
        );
    };
    match expected {
        Some(length) => {
            while raw.len() < split + 4 + length {
                let read = stream.read(&mut chunk).await.expect("read");
                assert!(read > 0, "connection closed before the whole body");
                raw.extend_from_slice(&chunk[..read]);
            }
        }
        None => {
            stream.read_to_end(&mut raw).await.expect("read");
        }
    }

    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    RawResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// POSTs a JSON (or any text) body with an optional bearer token.
pub async fn post_text(
    url: &str,
    content_type: &str,
    token: Option<&str>,
    body: &str,
) -> RawResponse {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", content_type)];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth.as_str()));
    }
    http_post(url, &headers, body.as_bytes()).await
}

/// A token with exactly the given grants, for raw Twirp calls.
pub fn token_with(adjust: impl FnOnce(&mut VideoGrants)) -> String {
    let mut grants = VideoGrants::default();
    adjust(&mut grants);
    server_token(grants)
}

/// The Twirp error code of a failed `livekit-api` call.
pub fn twirp_code<T: std::fmt::Debug>(
    result: Result<T, livekit_api::services::ServiceError>,
) -> String {
    use livekit_api::services::{ServerError, ServiceError};
    match result {
        Err(ServiceError::Twirp(ServerError::Twirp(code))) => code.code,
        other => panic!("expected a Twirp error, got {other:?}"),
    }
}

/// The Twirp error of a failed `livekit-api` call: (code, message).
pub fn twirp_error<T: std::fmt::Debug>(
    result: Result<T, livekit_api::services::ServiceError>,
) -> (String, String) {
    use livekit_api::services::{ServerError, ServiceError};
    match result {
        Err(ServiceError::Twirp(ServerError::Twirp(code))) => (code.code, code.msg),
        other => panic!("expected a Twirp error, got {other:?}"),
    }
}

/// Waits for the emulator's timed steps and webhooks, then returns the verified events.
pub async fn settled_events(
    emulator: &Emulator,
    sink: &mut WebhookSink,
) -> Vec<proto::WebhookEvent> {
    assert!(
        emulator.settle(FLUSH_TIMEOUT).await,
        "emulator settled in time"
    );
    sink.drain().iter().map(Delivered::verify).collect()
}
