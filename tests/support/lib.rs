//! Test support for the end-to-end suites: [`spawn_app`] starts a real orchestrator (every
//! listener on port 0, embedded LiveKit emulator) on its own runtime thread, and [`TestApp`]
//! has one method per endpoint so tests read as specifications.
//!
//! The helpers that expect success (`created_stream`, `new_stream_id`, `stream`, `state`,
//! `joined`, `updated`, `stopped`, `left`, `streams`, `participant_page`) go through the typed
//! client `orchestrator-client` ([`TestApp::api`]), so every suite that uses them proves the
//! client against the real service; they hand the answer back as the JSON the client's types
//! write, which is the service's JSON. The helpers that return a raw `Response` stay raw:
//! tests of statuses, headers and malformed input need to send and see exactly the bytes.
//!
//! # Layout
//!
//! - [`spawn_app`], [`TestApp`]: an orchestrator in the test process.
//! - [`process`]: the real binary as a child process (crash, pause, terminate, starve it).
//! - [`history`]: the history checker of the chaos and hostile suites.
//! - [`audit`]: reads every stream back and checks its counters and its log.
//! - [`raw`]: raw sockets and frames for hostile clients, a seeded generator.
//! - [`proxy`]: a TCP proxy that switches upstream and cuts connections (forced reconnects).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_debug_implementations
)]

pub mod audit;
pub mod history;
pub mod process;
pub mod proxy;
pub mod raw;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use livekit_api::access_token::AccessToken;
use livekit_emulator::Emulator;
use orchestrator::{Application, Settings};
use orchestrator_client::{CreateStream, Join, ListParticipants, ListStreams, UpdateStream};
use orchestrator_domain::ports::EventLog;
use orchestrator_domain::service::StreamService;
use reqwest::{Response, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

/// A running orchestrator and a client for it. Shuts the app down when dropped.
pub struct TestApp {
    /// Where the REST API listens.
    pub addr: SocketAddr,
    /// Where the gRPC API listens.
    pub grpc_addr: SocketAddr,
    /// `http://addr`.
    pub base: String,
    /// HTTP client.
    pub client: reqwest::Client,
    /// The typed client of this instance (REST, gRPC, subscriptions).
    pub api: orchestrator_client::Client,
    /// The embedded LiveKit emulator (absent when the app uses an external LiveKit URL).
    pub emulator: Option<Emulator>,
    /// The LiveKit URL the app used when it started.
    pub livekit_url: String,
    /// Where the app's own embedded emulator listens (absent with an external LiveKit URL).
    pub emulator_url: Option<String>,
    /// The instance's event log and its live subscription.
    pub events: Arc<dyn EventLog>,
    /// The instance's use cases, for set-ups too large to go through the API (an audience of
    /// 100,000).
    pub service: StreamService,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// A WebSocket client connection.
pub type WsClient =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The generated gRPC client of `livestream.orchestrator.v1.StreamService`.
pub type GrpcClient =
    orchestrator_grpc::proto::stream_service_client::StreamServiceClient<tonic::transport::Channel>;

/// Starts an orchestrator with the test defaults.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Settings::for_tests()).await
}

/// Starts an orchestrator with `settings`, on a runtime of its own (as in production: a
/// multi-threaded tokio runtime), and waits until it is bound.
pub async fn spawn_app_with(settings: Settings) -> TestApp {
    let (ready_tx, ready_rx) = oneshot::channel();
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test runtime");
        runtime.block_on(async move {
            let app = match Application::build(settings).await {
                Ok(app) => app,
                Err(err) => {
                    let _ = ready_tx.send(Err(format!("{err:#}")));
                    return;
                }
            };
            let info = (
                app.http_addr(),
                app.grpc_addr(),
                app.emulator().cloned(),
                app.livekit_url(),
                app.emulator_url().map(str::to_owned),
                app.event_log(),
                app.service(),
            );
            let _ = ready_tx.send(Ok(info));
            let _ = app
                .run_until(async move {
                    let _ = shutdown_rx.await;
                })
                .await;
        });
    });
    let (addr, grpc_addr, emulator, livekit_url, emulator_url, events, service) = ready_rx
        .await
        .expect("app thread alive")
        .unwrap_or_else(|err| panic!("the app failed to start: {err}"));
    let base = format!("http://{addr}");
    TestApp {
        addr,
        grpc_addr,
        api: typed_client(&base, grpc_addr),
        base,
        client: http_client(),
        emulator,
        livekit_url,
        emulator_url,
        events,
        service,
        shutdown: Some(shutdown_tx),
    }
}

/// The typed client of the instance at `base` (gRPC at `grpc_addr`), without an API key.
pub fn typed_client(base: &str, grpc_addr: SocketAddr) -> orchestrator_client::Client {
    orchestrator_client::Client::builder(base)
        .grpc_url(format!("http://{grpc_addr}"))
        .build()
        .expect("a client of the app")
}

/// `value` as the JSON it writes (the client's answers write the service's JSON).
fn as_json(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("answers are JSON")
}

/// A request body of a success helper as the client's typed request.
fn typed<T: serde::de::DeserializeOwned>(body: Value) -> T {
    serde_json::from_value(body).expect("a valid request body for a success helper")
}

/// [`http_client`] whose connections leave from `source` (another loopback address, e.g.
/// 127.0.0.2), so limits per source address that a hostile crowd on 127.0.0.1 trips do not
/// apply to it, and with a per-request `timeout`.
pub fn http_client_from(source: std::net::IpAddr, timeout: Duration) -> reqwest::Client {
    http_client_builder()
        .local_address(source)
        .timeout(timeout)
        .build()
        .unwrap()
}

/// A plain-HTTP client. reqwest is built with `rustls-no-provider` in this workspace (through
/// livekit-api), so it needs a TLS config with an explicit provider even for loopback HTTP.
pub fn http_client() -> reqwest::Client {
    http_client_builder().build().unwrap()
}

/// [`http_client`]'s builder (20 s per request), for tests that need another setting (no
/// redirects, another source address or timeout).
pub fn http_client_builder() -> reqwest::ClientBuilder {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(20))
}

impl TestApp {
    /// The embedded emulator.
    pub fn emulator(&self) -> &Emulator {
        self.emulator
            .as_ref()
            .expect("this app runs the embedded emulator")
    }

    /// Whether the LiveKit the app used at start was its own embedded emulator.
    pub fn hosts_the_livekit(&self) -> bool {
        self.emulator_url.as_deref() == Some(self.livekit_url.as_str())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET /health`.
    pub async fn health(&self) -> Response {
        self.client.get(self.url("/health")).send().await.unwrap()
    }

    /// `POST /streams` with a JSON body.
    pub async fn create_stream(&self, body: Value) -> Response {
        self.client
            .post(self.url("/streams"))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Creates a stream through the client and returns its JSON, asserting 201.
    pub async fn created_stream(&self, body: Value) -> Value {
        let answer = self
            .api
            .create_stream(&typed::<CreateStream>(body))
            .answer()
            .await
            .expect("the stream is created");
        assert_eq!(answer.status, 201);
        as_json(answer.value)
    }

    /// Creates a stream with default settings through the client and returns its id.
    pub async fn new_stream_id(&self) -> String {
        self.api
            .create_stream(&CreateStream::default())
            .await
            .expect("the stream is created")
            .id
    }

    /// `GET /streams?query`.
    pub async fn list_streams(&self, query: &str) -> Response {
        self.client
            .get(self.url(&format!("/streams{query}")))
            .send()
            .await
            .unwrap()
    }

    /// `GET /streams/:id`.
    pub async fn get_stream(&self, id: &str) -> Response {
        self.client
            .get(self.url(&format!("/streams/{id}")))
            .send()
            .await
            .unwrap()
    }

    /// `GET /streams/:id` through the client, as JSON.
    pub async fn stream(&self, id: &str) -> Value {
        as_json(self.api.stream(id).await.expect("the stream is read"))
    }

    /// `GET /streams/:id/state`.
    pub async fn stream_state(&self, id: &str) -> Response {
        self.client
            .get(self.url(&format!("/streams/{id}/state")))
            .send()
            .await
            .unwrap()
    }

    /// `GET /streams/:id/state` through the client, as JSON.
    pub async fn state(&self, id: &str) -> Value {
        as_json(self.api.stream_state(id).await.expect("the state is read"))
    }

    /// The first page of `GET /streams` through the client, each stream as JSON.
    pub async fn streams(&self) -> Vec<Value> {
        let page = self.api.list_streams(&ListStreams::default()).await;
        page.expect("the streams are listed")
            .items
            .into_iter()
            .map(as_json)
            .collect()
    }

    /// `PATCH /streams/:id` through the client, asserting 200; the stream as JSON.
    pub async fn updated(&self, id: &str, body: Value) -> Value {
        let request = typed::<UpdateStream>(body);
        as_json(
            self.api
                .update_stream(id, &request)
                .await
                .expect("the stream is updated"),
        )
    }

    /// `DELETE /streams/:id` through the client, asserting 200; the answer as JSON
    /// (`{"message", "stream"}`).
    pub async fn stopped(&self, id: &str) -> Value {
        as_json(
            self.api
                .stop_stream(id)
                .await
                .expect("the stream is stopped"),
        )
    }

    /// `PATCH /streams/:id`.
    pub async fn update_stream(&self, id: &str, body: Value) -> Response {
        self.client
            .patch(self.url(&format!("/streams/{id}")))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `PATCH /streams/:id` with `If-Match`.
    pub async fn update_stream_if_match(&self, id: &str, etag: &str, body: Value) -> Response {
        self.client
            .patch(self.url(&format!("/streams/{id}")))
            .header("If-Match", etag)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `DELETE /streams/:id`.
    pub async fn stop_stream(&self, id: &str) -> Response {
        self.client
            .delete(self.url(&format!("/streams/{id}")))
            .send()
            .await
            .unwrap()
    }

    /// `POST /streams/:id/join`.
    pub async fn join(&self, id: &str, body: Value) -> Response {
        self.client
            .post(self.url(&format!("/streams/{id}/join")))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Joins through the client and returns the answer as JSON.
    pub async fn joined(&self, id: &str, body: Value) -> Value {
        as_json(
            self.api
                .join(id, &typed::<Join>(body))
                .await
                .expect("joined"),
        )
    }

    /// A page of `GET /streams/:id/participants` through the client: the participants as a
    /// JSON array, and the next page's cursor.
    pub async fn participant_page(
        &self,
        id: &str,
        request: ListParticipants,
    ) -> (Value, Option<String>) {
        let page = self.api.participants(id, &request).await;
        let page = page.expect("the participants are listed");
        (as_json(page.items), page.next)
    }

    /// `GET /streams/:id/participants` with a query string (`?limit=…&cursor=…&active=true`).
    pub async fn participants(&self, id: &str, query: &str) -> Response {
        self.client
            .get(self.url(&format!("/streams/{id}/participants{query}")))
            .send()
            .await
            .unwrap()
    }

    /// `POST /streams/:id/leave`.
    pub async fn leave(&self, id: &str, body: Value) -> Response {
        self.client
            .post(self.url(&format!("/streams/{id}/leave")))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Leaves through the client, asserting 200; the answer as JSON (`{"message", "stream",
    /// "participant"}`).
    pub async fn left(&self, id: &str, identity: &str) -> Value {
        as_json(self.api.leave(id, identity).await.expect("left"))
    }

    /// Any request with a raw body and content type.
    pub async fn send_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        let mut request = self.client.request(method, self.url(path)).body(body);
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        request.send().await.unwrap()
    }

    /// `POST /webhooks/livekit` with `body`, signed as LiveKit signs with `secret`.
    pub async fn post_webhook(&self, body: &str, secret: &str) -> Response {
        let digest = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body));
        let token = AccessToken::with_api_key(livekit_emulator::DEV_API_KEY, secret)
            .with_sha256(&digest)
            .to_jwt()
            .unwrap();
        self.client
            .post(self.url("/webhooks/livekit"))
            .header("Content-Type", "application/webhook+json")
            .header("Authorization", token)
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    /// A request to `path` with any method, for headers the other helpers do not set.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// Tries a WebSocket handshake on `path` as a browser page of `origin` would.
    pub async fn ws_from_origin(
        &self,
        path: &str,
        origin: &str,
    ) -> Result<WsClient, tokio_tungstenite::tungstenite::Error> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://{}{path}", self.addr)
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
        tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(request),
        )
        .await
        .expect("WebSocket handshake answered within 10 s")
        .map(|(socket, _)| socket)
    }

    /// Tries a WebSocket handshake on `path_and_query` with extra headers (`Authorization`,
    /// say); the refusal's HTTP answer is in the error.
    pub async fn ws_with(
        &self,
        path_and_query: &str,
        headers: &[(&str, &str)],
    ) -> Result<WsClient, tokio_tungstenite::tungstenite::Error> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://{}{path_and_query}", self.addr)
            .into_client_request()
            .unwrap();
        for (name, value) in headers {
            request.headers_mut().insert(
                reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(request),
        )
        .await
        .expect("WebSocket handshake answered within 10 s")
        .map(|(socket, _)| socket)
    }

    /// Opens a WebSocket to `path` (`/` or `/ws`) on the HTTP port.
    pub async fn ws(&self, path: &str) -> WsClient {
        let url = format!("ws://{}{path}", self.addr);
        let (socket, _) = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(url.as_str()),
        )
        .await
        .expect("WebSocket handshake within 10 s")
        .expect("WebSocket handshake");
        socket
    }

    /// A gRPC channel to this instance.
    pub async fn grpc_channel(&self) -> tonic::transport::Channel {
        tonic::transport::Endpoint::from_shared(format!("http://{}", self.grpc_addr))
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .expect("gRPC connection")
    }

    /// A client of the orchestrator's gRPC `StreamService`.
    pub async fn grpc(&self) -> GrpcClient {
        GrpcClient::new(self.grpc_channel().await)
    }

    /// `GET /metrics` as text.
    pub async fn metrics_text(&self) -> String {
        let response = self.client.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.unwrap()
    }

    /// The value of one series at `GET /metrics` (`name{label="value",…}` exactly as
    /// exported, or a bare name), 0 when absent. The recorder is the process's: tests in the
    /// same binary count too, so compare values rather than expect absolute ones.
    pub async fn metric(&self, series: &str) -> f64 {
        series_value(&self.metrics_text().await, series)
    }

    /// Starts a graceful shutdown without waiting for it (the app drains, then stops).
    pub fn begin_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Polls `GET /streams/:id` until `condition` holds (at most 10 s), returning the stream.
    pub async fn wait_for_stream(&self, id: &str, condition: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let stream = self.stream(id).await;
            if condition(&stream) {
                return stream;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "condition not reached within 10 s; last state: {stream:#}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Reads an error answer, asserting its status and that its body is the error envelope
/// (`{"error": {"code", "message", "statusCode", "field"?, "fields"?}}`) with this machine code;
/// returns the envelope's `error` object. The one place tests read an error's code.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(
        content_type.as_deref(),
        Some("application/json"),
        "errors are JSON"
    );
    let body: Value = response.json().await.unwrap();
    assert_error_envelope(&body, status, code)
}

/// Checks an error envelope already read; returns its `error` object.
pub fn assert_error_envelope(body: &Value, status: StatusCode, code: &str) -> Value {
    let error = &body["error"];
    assert!(
        body.as_object().is_some_and(|o| o.len() == 1),
        "only `error` at the top level: {body}"
    );
    assert_eq!(error["code"], code, "code in {body}");
    assert_eq!(error["statusCode"], status.as_u16(), "statusCode in {body}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "message in {body}");
    assert!(
        !message.contains("(\"") && !message.contains("Some("),
        "the message is human text, not Rust debug output: {message}"
    );
    if let Some(fields) = error.get("fields") {
        let fields = fields.as_array().expect("fields is a list");
        assert!(
            !fields.is_empty(),
            "fields is absent rather than empty: {body}"
        );
        assert_eq!(
            error["field"], fields[0]["field"],
            "field is the first of fields: {body}"
        );
        for field in fields {
            assert!(
                field["field"].is_string() && field["message"].is_string(),
                "{body}"
            );
        }
    }
    error.clone()
}

/// The value of `series` (a name with its labels, exactly as exported) in a Prometheus text
/// exposition, 0 when absent.
pub fn series_value(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok()).flatten()
        })
        .unwrap_or(0.0)
}
