//! One token stops everything the servers serve: cancelled, it closes WebSocket connections
//! with 1001 (going away) and the seq to resume from, ends gRPC subscriptions with
//! `UNAVAILABLE` and the same, and both servers stop.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use orchestrator_domain::service::commands::CreateStream;
use orchestrator_grpc::proto::stream_service_client::StreamServiceClient;
use orchestrator_grpc::proto::SubscribeRequest;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::grpc::GrpcServer;
use crate::http::{HttpExtras, HttpServer};
use crate::test_support;

/// How long a client waits for what it expects before the test gives up.
const WAIT: Duration = Duration::from_secs(10);

type WsClient =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn loopback() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// A WebSocket client following `id` from the start, once its first event has arrived.
async fn ws_following(http: SocketAddr, id: &str) -> WsClient {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{http}/ws"))
        .await
        .unwrap();
    let subscribe = json!({"type": "subscribe", "streamId": id, "afterSeq": 0});
    ws.send(Message::text(subscribe.to_string())).await.unwrap();
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next()).await.unwrap();
        if let Some(Ok(Message::Text(text))) = frame {
            if serde_json::from_str::<Value>(&text).unwrap()["type"] == "event" {
                return ws;
            }
        }
    }
}

/// The close frame `ws` gets next, skipping anything else.
async fn close_of(mut ws: WsClient) -> CloseFrame {
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a close frame in time")
            .expect("a close frame, not a dropped connection")
            .unwrap();
        if let Message::Close(close) = frame {
            return close.expect("a close frame with a code");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_token_closes_websockets_ends_grpc_subscriptions_and_stops_both_servers() {
    let use_cases = test_support::use_cases(&test_support::livekit_emulator());
    let config = test_support::config();
    let created = use_cases.service.create(CreateStream::default()).await;
    let id = created.unwrap().id.to_string();
    let shutdown = CancellationToken::new();
    let ((http_listener, http), (grpc_listener, grpc)) = (loopback(), loopback());
    let http_server = HttpServer::new(
        http_listener,
        &config,
        &use_cases,
        HttpExtras::default(),
        &shutdown,
    )
    .unwrap();
    let grpc_server = GrpcServer::new(grpc_listener, &config, &use_cases, &shutdown).unwrap();
    let servers = async { tokio::join!(http_server.run(), grpc_server.run()) };
    let clients = async {
        let ws = ws_following(http, &id).await;
        let mut client = StreamServiceClient::connect(format!("http://{grpc}"))
            .await
            .unwrap();
        let request = SubscribeRequest {
            stream_id: id.clone(),
            after_seq: Some(0),
            ..SubscribeRequest::default()
        };
        let mut events = client.subscribe(request).await.unwrap().into_inner();
        let first = tokio::time::timeout(WAIT, events.message()).await.unwrap();
        assert_eq!(first.unwrap().unwrap().seq, 1);

        shutdown.cancel();

        let ended = tokio::time::timeout(WAIT, events.message()).await.unwrap();
        (close_of(ws).await, ended.unwrap_err())
    };
    let ((http_stopped, grpc_stopped), (close, ended)) =
        tokio::time::timeout(WAIT * 3, async { tokio::join!(servers, clients) })
            .await
            .expect("both servers stop");

    assert_eq!(close.code, CloseCode::Away);
    assert_eq!(
        close.reason.as_str(),
        "server shutting down; reconnect and resume from seq 1"
    );
    assert_eq!(ended.code(), tonic::Code::Unavailable);
    assert_eq!(ended.message(), "server shutting down; resume from seq 1");
    assert!(http_stopped.is_ok(), "{http_stopped:?}");
    assert!(grpc_stopped.is_ok(), "{grpc_stopped:?}");
}
