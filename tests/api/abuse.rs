//! What one client may take, and how it is told when it asks for more: request rates (429 with
//! `Retry-After`), connections per address and per key, streams per WebSocket connection,
//! bodies and heads sent too slowly (408, connection closed), frames that only declare a huge
//! length, cross-site forms, and gRPC messages too big or not valid. Each is a clear answer
//! that changes nothing, and other clients are still served.

use std::time::Duration;

use orchestrator::Settings;
use orchestrator_domain::policy::access::{KeyEntry, Scope};
use orchestrator_grpc::proto::{CreateStreamRequest, GetStreamRequest};
use orchestrator_tests::{assert_error, spawn_app, spawn_app_with, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::Code;

const KEY: &str = "lso_key-of-the-abuse-tests";
const OTHER_KEY: &str = "lso_other-key-of-the-abuse-tests";
const WAIT: Duration = Duration::from_secs(10);

async fn spawn(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = Settings::for_tests();
    configure(&mut settings);
    spawn_app_with(settings).await
}

fn with_keys(settings: &mut Settings) {
    settings.auth.api_keys = vec![
        KeyEntry::for_key(KEY, Scope::Write).to_string(),
        KeyEntry::for_key(OTHER_KEY, Scope::Write).to_string(),
    ];
}

async fn list_as(app: &TestApp, key: &str) -> reqwest::Response {
    app.request(Method::GET, "/streams")
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_key_over_its_rate_gets_429_with_retry_after_and_other_keys_are_served() {
    let app = spawn(|settings| {
        with_keys(settings);
        settings.limits.requests_per_sec_per_key = 1;
        settings.limits.burst_per_key = 2;
    })
    .await;

    for _ in 0..2 {
        assert_eq!(list_as(&app, KEY).await.status(), StatusCode::OK);
    }
    let limited = list_as(&app, KEY).await;

    assert_eq!(limited.headers().get("retry-after").unwrap(), "1");
    let error = assert_error(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(!error.to_string().contains(KEY), "{error}");
    assert_eq!(list_as(&app, OTHER_KEY).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_address_over_its_rate_gets_429_but_probes_still_answer() {
    let app = spawn(|settings| {
        settings.limits.requests_per_sec_per_address = 1;
        settings.limits.burst_per_address = 2;
    })
    .await;

    for _ in 0..2 {
        assert_eq!(app.list_streams("").await.status(), StatusCode::OK);
    }
    let limited = app.create_stream(json!({})).await;

    assert!(limited.headers().contains_key("retry-after"));
    assert_error(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(app.health().await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_cross_site_form_cannot_create_a_stream_even_with_an_empty_body() {
    let app = spawn_app().await;

    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let response = app
            .send_raw(Method::POST, "/streams", Some(content_type), "")
            .await;
        assert_error(
            response,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
    }
    let without_type = app.send_raw(Method::POST, "/streams", None, "").await;

    assert_eq!(
        without_type.status(),
        StatusCode::CREATED,
        "no body, no type: {{}}"
    );
    let streams = app.streams().await;
    assert_eq!(streams.len(), 1);
}

/// Reads everything the server sends until it closes the connection (at most [`WAIT`]).
async fn read_until_closed(socket: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(WAIT, socket.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "the server closed the connection within {WAIT:?}"
    );
    String::from_utf8_lossy(&answer).into_owned()
}

/// Writes `bytes` one by one, a pause between each, until the server stops reading.
fn trickle(mut writer: tokio::net::tcp::OwnedWriteHalf, bytes: Vec<u8>) {
    tokio::spawn(async move {
        for byte in bytes {
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
}

#[tokio::test]
async fn a_body_sent_byte_by_byte_is_cut_off_with_408_and_changes_nothing() {
    let app = spawn(|settings| settings.limits.body_timeout_ms = 500).await;
    let body = br#"{"roomName":"slow-loris-room-name"}"#.to_vec();
    let socket = TcpStream::connect(app.addr).await.unwrap();
    let (mut reader, mut writer) = socket.into_split();
    let head = format!(
        "POST /streams HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    writer.write_all(head.as_bytes()).await.unwrap();

    trickle(writer, body);
    let mut answer = Vec::new();
    let read = tokio::time::timeout(WAIT, reader.read_to_end(&mut answer)).await;

    assert!(read.is_ok(), "the connection was closed");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    let streams = app.streams().await;
    assert!(streams.is_empty());
}

#[tokio::test]
async fn a_request_head_sent_byte_by_byte_is_cut_off() {
    let app = spawn(|settings| settings.limits.request_head_timeout_ms = 500).await;
    let socket = TcpStream::connect(app.addr).await.unwrap();
    let (mut reader, writer) = socket.into_split();
    let head = "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nX-Padding: ".to_owned()
        + &"x".repeat(200)
        + "\r\n\r\n";

    trickle(writer, head.into_bytes());
    let mut answer = Vec::new();
    let read = tokio::time::timeout(WAIT, reader.read_to_end(&mut answer)).await;

    assert!(
        read.is_ok(),
        "the connection was closed before the head was complete"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}

#[tokio::test]
async fn connections_beyond_the_per_address_cap_are_refused_and_closed() {
    let app = spawn(|settings| settings.limits.connections_per_address = 2).await;
    let first = TcpStream::connect(app.addr).await.unwrap();
    let second = TcpStream::connect(app.addr).await.unwrap();

    let refused = one_more_request(&app).await;

    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    assert!(refused.contains("too_many_connections"), "{refused}");
    drop((first, second));
    wait_until_served(&app).await;
}

/// A `GET /health` on a connection of its own: the whole answer, read until the server closes.
async fn one_more_request(app: &TestApp) -> String {
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    socket
        .write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    read_until_closed(&mut socket).await
}

/// Waits until a new connection is served again (the connections dropped gave their slots
/// back).
async fn wait_until_served(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if app.health().await.status() == StatusCode::OK {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "slots given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A raw WebSocket on `/ws`, past the handshake and the `connected` message.
async fn raw_websocket(app: &TestApp) -> TcpStream {
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    socket
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        socket.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let (opcode, _) = server_frame(&mut socket).await;
    assert_eq!(opcode, 0x1, "the connected message");
    socket
}

#[tokio::test]
async fn websocket_connections_count_against_the_per_address_cap_while_they_are_open() {
    let app = spawn(|settings| settings.limits.connections_per_address = 2).await;
    let first = raw_websocket(&app).await;
    let second = raw_websocket(&app).await;

    let refused = one_more_request(&app).await;

    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    drop((first, second));
    wait_until_served(&app).await;
}

/// The next frame the server sends: its opcode and payload (servers do not mask).
async fn server_frame(socket: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut header = [0u8; 2];
    tokio::time::timeout(WAIT, socket.read_exact(&mut header))
        .await
        .expect("a frame in time")
        .unwrap();
    let length = match header[1] & 0x7f {
        126 => usize::from(socket.read_u16().await.unwrap()),
        127 => usize::try_from(socket.read_u64().await.unwrap()).unwrap(),
        short => usize::from(short),
    };
    let mut payload = vec![0u8; length];
    socket.read_exact(&mut payload).await.unwrap();
    (header[0] & 0x0f, payload)
}

#[tokio::test]
async fn a_frame_that_only_declares_a_huge_length_is_refused_at_once_with_1009() {
    let app = spawn_app().await;
    let mut socket = raw_websocket(&app).await;
    let mut header = vec![0x81, 0x80 | 127];
    header.extend_from_slice(&(1_u64 << 30).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);

    socket.write_all(&header).await.unwrap();
    let close = loop {
        let (opcode, payload) = server_frame(&mut socket).await;
        if opcode == 0x8 {
            break payload;
        }
    };

    assert_eq!(u16::from_be_bytes([close[0], close[1]]), 1009);
    let reason = String::from_utf8_lossy(&close[2..]);
    assert!(reason.contains("65536"), "{reason}");
    assert_eq!(
        app.health().await.status(),
        StatusCode::OK,
        "others are served"
    );
}

#[tokio::test]
async fn a_key_holds_a_limited_number_of_websocket_connections() {
    let app = spawn(|settings| {
        with_keys(settings);
        settings.limits.websocket_connections_per_key = 2;
    })
    .await;
    let header = [("Authorization", format!("Bearer {KEY}"))];
    let header: Vec<(&str, &str)> = header.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let first = app.ws_with("/ws", &header).await.unwrap();
    let _second = app.ws_with("/ws", &header).await.unwrap();
    let third = app.ws_with("/ws", &header).await.unwrap_err();
    let other_key = app
        .ws_with("/ws", &[("Authorization", &format!("Bearer {OTHER_KEY}"))])
        .await;

    let tokio_tungstenite::tungstenite::Error::Http(refusal) = &third else {
        panic!("expected an HTTP refusal, got {third:?}");
    };
    assert_eq!(refusal.status().as_u16(), 429);
    assert!(other_key.is_ok(), "keys are counted apart");
    drop(first);
    let deadline = tokio::time::Instant::now() + WAIT;
    while app.ws_with("/ws", &header).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot is given back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_websocket_connection_follows_a_limited_number_of_streams() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let app = spawn(|settings| settings.limits.subscriptions_per_connection = 2).await;
    let ids = [
        app.new_stream_id().await,
        app.new_stream_id().await,
        app.new_stream_id().await,
    ];
    let mut ws = app.ws("/ws").await;
    let ask = |id: &str| Message::text(json!({"type": "subscribe", "streamId": id}).to_string());
    let mut answers = Vec::new();

    for id in [&ids[0], &ids[1], &ids[2], &ids[0]] {
        ws.send(ask(id)).await.unwrap();
    }
    while answers.len() < 5 {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Text(text) = frame {
            answers.push(serde_json::from_str::<Value>(&text).unwrap());
        }
    }

    let kinds: Vec<&str> = answers
        .iter()
        .map(|a| a["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "connected",
            "subscribed",
            "subscribed",
            "error",
            "subscribed"
        ],
        "following a stream again does not count: {answers:?}"
    );
    assert_eq!(answers[3]["code"], "too_many_subscriptions");
    assert_eq!(answers[3]["streamId"], ids[2].as_str());
}

fn grpc_create(room_name: String) -> CreateStreamRequest {
    CreateStreamRequest {
        room_name,
        ..CreateStreamRequest::default()
    }
}

#[tokio::test]
async fn a_grpc_request_over_64_kib_is_out_of_range_and_changes_nothing() {
    let app = spawn_app().await;
    let mut grpc = app.grpc().await;

    let refused = grpc
        .create_stream(grpc_create("r".repeat(70 * 1024)))
        .await
        .unwrap_err();

    assert_eq!(refused.code(), Code::OutOfRange);
    let streams = app.streams().await;
    assert!(streams.is_empty());
}

/// `GetStreamRequest` with its `stream_id` (field 1) as raw bytes, to send what no valid
/// client would.
#[derive(Clone, PartialEq, prost::Message)]
struct RawGetStreamRequest {
    #[prost(bytes = "vec", tag = "1")]
    stream_id: Vec<u8>,
}

#[tokio::test]
async fn a_grpc_string_that_is_not_utf8_is_invalid_argument() {
    let app = spawn_app().await;
    let mut client = tonic::client::Grpc::new(app.grpc_channel().await);
    client.ready().await.unwrap();
    let codec =
        tonic_prost::ProstCodec::<RawGetStreamRequest, orchestrator_grpc::proto::Stream>::default();
    let path = "/livestream.orchestrator.v1.StreamService/GetStream"
        .parse()
        .unwrap();

    let refused = client
        .unary(
            tonic::Request::new(RawGetStreamRequest {
                stream_id: vec![0xff, 0xfe, 0xfd],
            }),
            path,
            codec,
        )
        .await
        .unwrap_err();

    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(
        refused.message().contains("stream_id"),
        "{}",
        refused.message()
    );
}

#[tokio::test]
async fn grpc_errors_echo_at_most_a_short_excerpt_of_the_input() {
    let app = spawn_app().await;
    let mut grpc = app.grpc().await;
    let huge = "z".repeat(50_000);

    let refused = grpc
        .get_stream(GetStreamRequest {
            stream_id: huge.clone(),
        })
        .await
        .unwrap_err();
    let taken_name = grpc
        .create_stream(grpc_create(huge.clone()))
        .await
        .unwrap_err();

    assert_eq!(
        refused.code(),
        Code::NotFound,
        "as REST: an id that is no stream's"
    );
    assert!(
        refused.message().len() < 300,
        "{} bytes",
        refused.message().len()
    );
    assert!(
        taken_name.message().len() < 300,
        "{} bytes",
        taken_name.message().len()
    );
}

#[tokio::test]
async fn a_keys_rate_counts_its_grpc_calls_with_its_rest_requests() {
    let app = spawn(|settings| {
        with_keys(settings);
        settings.limits.requests_per_sec_per_key = 1;
        settings.limits.burst_per_key = 2;
    })
    .await;
    let mut grpc = app.grpc().await;
    let list = || {
        let mut request =
            tonic::Request::new(orchestrator_grpc::proto::ListStreamsRequest::default());
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {KEY}").parse().unwrap());
        request
    };

    assert!(grpc.list_streams(list()).await.is_ok());
    assert_eq!(list_as(&app, KEY).await.status(), StatusCode::OK);
    let limited = grpc.list_streams(list()).await.unwrap_err();

    assert_eq!(limited.code(), Code::ResourceExhausted);
    assert_eq!(limited.metadata().get("retry-after").unwrap(), "1");
    assert!(
        limited.message().contains("retry after"),
        "{}",
        limited.message()
    );
}
