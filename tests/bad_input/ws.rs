//! WebSocket: a text frame that is not one of the protocol's messages is answered with an
//! `error` message, the connection stays usable and nothing changes; a frame the protocol
//! does not take at all (binary, oversized) closes the connection with a reason.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use orchestrator_tests::WsClient;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::inputs::{any_text, invalid_id, malformed_json, nested, wrong_type_for};
use crate::{runner, Target};

const ANSWER: Duration = Duration::from_secs(5);

/// The next text message, skipping pings.
async fn next_text(socket: &mut WsClient) -> Result<Value, String> {
    loop {
        let frame = tokio::time::timeout(ANSWER, socket.next())
            .await
            .map_err(|_| "no answer within 5 s".to_owned())?;
        match frame {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(&text).map_err(|err| format!("{err}: {text}"));
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => return Err(format!("not a text message: {other:?}")),
        }
    }
}

async fn connect(target: &Target) -> WsClient {
    let mut socket = target.app.ws("/ws").await;
    let hello = next_text(&mut socket).await.unwrap();
    assert_eq!(hello["type"], "connected");
    socket
}

/// Messages that are JSON text but not a valid request of the protocol (the witness exists;
/// its seq is small, the `afterSeq` values here are of the wrong type or absurd).
fn invalid_message(witness: String) -> impl Strategy<Value = String> {
    let w = witness.clone();
    let w2 = witness.clone();
    prop_oneof![
        malformed_json().prop_filter_map("text frames are UTF-8", |b| String::from_utf8(b).ok()),
        select(vec!["[]", "null", "42", "\"subscribe\"", "{}"]).prop_map(str::to_owned),
        any_text()
            .prop_filter("not a message type", |t| {
                !matches!(t.as_str(), "subscribe" | "unsubscribe" | "ping")
            })
            .prop_map(|kind| json!({ "type": kind }).to_string()),
        Just(json!({ "type": "subscribe" }).to_string()),
        invalid_id().prop_map(|id| json!({ "type": "subscribe", "streamId": id }).to_string()),
        invalid_id()
            .prop_filter("not a UUID", |id| uuid::Uuid::parse_str(id).is_err())
            .prop_map(|id| json!({ "type": "unsubscribe", "streamId": id }).to_string()),
        wrong_type_for("u64").prop_map(move |after| {
            json!({ "type": "subscribe", "streamId": w, "afterSeq": after }).to_string()
        }),
        prop_oneof![0u64..50, 60_001u64..u64::MAX].prop_map(move |interval| {
            json!({ "type": "subscribe", "streamId": w2, "audienceIntervalMs": interval })
                .to_string()
        }),
        (33usize..100).prop_map(|levels| {
            json!({ "type": "subscribe", "streamId": nested(levels) }).to_string()
        }),
        (1_000usize..60_000).prop_map(|n| {
            json!({ "type": "subscribe", "streamId": "x".repeat(n) }).to_string()
        }),
        Just(format!(
            r#"{{"type":"subscribe","streamId":"{witness}","afterSeq":1e30}}"#
        )),
    ]
}

#[test]
fn messages_outside_the_protocol_get_an_error_and_the_connection_stays_usable() {
    let target = Target::new();
    runner()
        .run(&invalid_message(target.witness.clone()), |message| {
            target.unchanged(|| {
                let (answer, pong) = target.runtime.block_on(async {
                    let mut socket = connect(&target).await;
                    socket.send(Message::text(message.clone())).await.unwrap();
                    let answer = next_text(&mut socket).await;
                    socket
                        .send(Message::text(r#"{"type":"ping"}"#))
                        .await
                        .unwrap();
                    let pong = next_text(&mut socket).await;
                    let _ = socket.close(None).await;
                    (answer, pong)
                });
                let answer = answer.map_err(TestCaseError::fail)?;
                prop_assert_eq!(&answer["type"], "error", "{}", answer);
                let code = answer["code"].as_str().unwrap_or_default();
                prop_assert!(
                    matches!(
                        code,
                        "invalid_message" | "invalid_field" | "stream_not_found"
                    ),
                    "a client error, not {code}: {answer}"
                );
                prop_assert!(
                    answer.to_string().len() < 2_000,
                    "the error does not echo the input back: {} bytes",
                    answer.to_string().len()
                );
                prop_assert_eq!(&pong.map_err(TestCaseError::fail)?["type"], "pong");
                Ok(())
            })
        })
        .unwrap();
}

#[test]
fn binary_and_oversized_frames_close_the_connection_with_a_reason() {
    let target = Target::new();
    let frames = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512)
            .prop_map(|b| (Message::binary(b), CloseCode::Unsupported)),
        (65_537usize..200_000).prop_map(|n| (Message::text("x".repeat(n)), CloseCode::Size)),
    ];
    runner()
        .run(&frames, |(frame, expected)| {
            target.unchanged(|| {
                let close = target.runtime.block_on(async {
                    let mut socket = connect(&target).await;
                    // The server may close before it read everything.
                    let _ = socket.send(frame).await;
                    loop {
                        match tokio::time::timeout(ANSWER, socket.next()).await {
                            Ok(Some(Ok(Message::Close(close)))) => break close,
                            Ok(Some(Ok(_))) => {}
                            other => panic!("no close frame: {other:?}"),
                        }
                    }
                });
                let close = close.expect("a close frame with a code");
                prop_assert_eq!(close.code, expected);
                prop_assert!(!close.reason.is_empty(), "a reason");
                Ok(())
            })
        })
        .unwrap();
}
