//! A WebSocket subscriber (tokio-tungstenite): connect to `/ws`, subscribe to one stream from a
//! seq, then feed every `event` message to its [`Subscriber`] until it has everything or the
//! coordinator gives up.

use std::borrow::Cow;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async_with_config, MaybeTlsStream, WebSocketStream};

use crate::subscriber::{Assignment, Control, Subscriber, CONNECT_TIMEOUT};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A server message; only the fields the harness reads (the event's `data` is skipped unparsed).
#[derive(Debug, Deserialize)]
struct ServerMessage<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default, borrow)]
    event: Option<EventRef<'a>>,
    #[serde(default, borrow)]
    code: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
struct EventRef<'a> {
    #[serde(borrow)]
    timestamp: Cow<'a, str>,
}

/// Follows `assignment` over WebSocket; reports on `ready` whether the subscription was
/// established, then receives until complete or told to give up.
pub async fn follow(
    assignment: Assignment,
    mut control: Control,
    ready: mpsc::UnboundedSender<bool>,
) -> Subscriber {
    let mut subscriber = Subscriber::new(assignment);
    let permit = control.connect_permits.clone().acquire_owned().await.ok();
    let opened = timeout(CONNECT_TIMEOUT, open(&subscriber.assignment)).await;
    drop(permit);
    let mut socket = match opened {
        Ok(Ok(socket)) => socket,
        Ok(Err(kind)) => {
            subscriber.fail(kind);
            let _ = ready.send(false);
            return subscriber;
        }
        Err(_elapsed) => {
            subscriber.fail("ws_connect_timeout");
            let _ = ready.send(false);
            return subscriber;
        }
    };
    subscriber.connected = true;
    let _ = ready.send(true);
    let mut signalled = std::pin::pin!(control.signalled());
    while !control.should_stop(&subscriber) {
        tokio::select! {
            message = socket.next() => {
                if !handle(&mut subscriber, message) {
                    break;
                }
            }
            () = &mut signalled => signalled.set(control.signalled()),
        }
    }
    let _ = timeout(std::time::Duration::from_secs(1), socket.close(None)).await;
    subscriber
}

/// Connects and subscribes; `Err` is the error kind.
async fn open(assignment: &Assignment) -> Result<Socket, String> {
    let url = format!("ws://{}/ws", assignment.endpoint.authority);
    // tungstenite's default 128 KiB read buffer per connection would cost the harness gigabytes
    // at 20,000 subscribers; events are a few hundred bytes.
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0);
    let (mut socket, _response) = connect_async_with_config(url, Some(config), true)
        .await
        .map_err(|_| "ws_connect".to_owned())?;
    let subscribe = json!({
        "type": "subscribe",
        "streamId": assignment.stream_id,
        "afterSeq": assignment.after_seq,
    });
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .map_err(|_| "ws_connect".to_owned())?;
    while let Some(message) = socket.next().await {
        let Ok(Message::Text(text)) = message else {
            continue;
        };
        let Ok(parsed) = serde_json::from_str::<ServerMessage<'_>>(text.as_str()) else {
            return Err("ws_unparsable_message".into());
        };
        match parsed.kind.as_ref() {
            "subscribed" => return Ok(socket),
            "error" => return Err(format!("ws_error_{}", parsed.code.unwrap_or_default())),
            _ => {}
        }
    }
    Err("ws_closed_before_subscribed".into())
}

/// Handles one frame; `false` ends the subscription.
fn handle(
    subscriber: &mut Subscriber,
    message: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
) -> bool {
    match message {
        Some(Ok(Message::Text(text))) => match serde_json::from_str::<ServerMessage<'_>>(&text) {
            Ok(parsed) => on_message(subscriber, parsed),
            Err(_) => {
                subscriber.fail("ws_unparsable_message");
                true
            }
        },
        Some(Ok(Message::Close(frame))) => {
            subscriber.fail(close_kind(frame.as_ref()));
            false
        }
        Some(Ok(_)) => true,
        Some(Err(_)) => {
            subscriber.fail("ws_io");
            false
        }
        None => {
            subscriber.fail("ws_closed");
            false
        }
    }
}

fn on_message(subscriber: &mut Subscriber, message: ServerMessage<'_>) -> bool {
    match message.kind.as_ref() {
        "event" => {
            if let (Some(seq), Some(event)) = (message.seq, message.event) {
                subscriber.receive(seq, &event.timestamp);
            }
            true
        }
        "error" => {
            subscriber.fail(format!("ws_error_{}", message.code.unwrap_or_default()));
            true
        }
        "resync_required" => {
            subscriber.fail("ws_resync_required");
            false
        }
        _ => true,
    }
}

/// `ws_closed_1008_slow_consumer` and the like.
fn close_kind(frame: Option<&CloseFrame>) -> String {
    match frame {
        Some(frame) => {
            let code = u16::from(frame.code);
            if frame.reason.contains("slow consumer") {
                format!("ws_closed_{code}_slow_consumer")
            } else {
                format!("ws_closed_{code}")
            }
        }
        None => "ws_closed".into(),
    }
}

#[cfg(test)]
mod tests {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    use super::*;
    use crate::httpc::Endpoint;

    fn subscriber() -> Subscriber {
        Subscriber::new(Assignment {
            endpoint: Endpoint::loopback(1),
            stream: 0,
            stream_id: "s".into(),
            after_seq: 0,
            group: 0,
        })
    }

    fn text(json: &str) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
        Some(Ok(Message::text(json.to_owned())))
    }

    #[test]
    fn an_event_message_is_delivered_by_its_seq() {
        let mut subscriber = subscriber();
        let event = r#"{"type":"event","streamId":"s","seq":1,"event":{"id":"e","seq":1,
            "type":"stream_updated","streamId":"s","timestamp":"2025-01-01T00:00:00.000Z",
            "data":{"metadata":{"tick":1}},"instanceId":"i"}}"#;

        assert!(handle(&mut subscriber, text(event)));

        assert_eq!(subscriber.tracker.highest(), 1);
        assert_eq!(subscriber.arrivals.len(), 1);
        assert!(subscriber.error.is_none());
    }

    #[test]
    fn a_slow_consumer_close_ends_the_subscription_with_its_reason() {
        let mut subscriber = subscriber();
        let close = Message::Close(Some(CloseFrame {
            code: CloseCode::Policy,
            reason: "slow consumer; resume from seq 7".into(),
        }));

        assert!(!handle(&mut subscriber, Some(Ok(close))));
        assert_eq!(
            subscriber.error.as_deref(),
            Some("ws_closed_1008_slow_consumer")
        );
    }

    #[test]
    fn an_error_message_is_recorded_and_the_connection_kept() {
        let mut subscriber = subscriber();

        assert!(handle(
            &mut subscriber,
            text(r#"{"type":"error","code":"store_unavailable","message":"x"}"#)
        ));
        assert_eq!(
            subscriber.error.as_deref(),
            Some("ws_error_store_unavailable")
        );
    }
}
