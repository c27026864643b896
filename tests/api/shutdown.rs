//! A server that shuts down tells its subscribers where to resume elsewhere: WebSocket clients
//! get a 1001 (going away) close frame with the seq to resume from, gRPC subscriptions end with
//! `UNAVAILABLE` and the same.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use orchestrator_grpc::proto::SubscribeRequest;
use orchestrator_tests::spawn_app;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tonic::Code;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn websocket_clients_get_going_away_with_the_seq_to_resume_from() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let mut ws = app.ws("/ws").await;
    ws.send(Message::text(
        json!({"type": "subscribe", "streamId": id, "afterSeq": 0}).to_string(),
    ))
    .await
    .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Text(text) = frame {
            seen.push(serde_json::from_str::<Value>(&text).unwrap()["type"].clone());
        }
    }
    assert_eq!(seen, ["connected", "subscribed", "event"]);

    drop(app);
    let close = loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a close frame in time")
            .expect("a close frame, not a dropped connection")
            .unwrap();
        if let Message::Close(close) = frame {
            break close.expect("a close frame with a code");
        }
    };

    assert_eq!(close.code, CloseCode::Away);
    assert_eq!(
        close.reason.as_str(),
        "server shutting down; reconnect and resume from seq 1"
    );
}

#[tokio::test]
async fn grpc_subscriptions_end_unavailable_with_the_seq_to_resume_from() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let mut grpc = app.grpc().await;
    let mut events = grpc
        .subscribe(SubscribeRequest {
            stream_id: id,
            after_seq: Some(0),
            ..SubscribeRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(WAIT, events.message()).await.unwrap();
    assert_eq!(first.unwrap().unwrap().seq, 1);

    drop(app);
    let end = tokio::time::timeout(WAIT, events.message())
        .await
        .expect("the subscription ends in time")
        .unwrap_err();

    assert_eq!(end.code(), Code::Unavailable);
    assert_eq!(end.message(), "server shutting down; resume from seq 1");
}
