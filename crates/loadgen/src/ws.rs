//! A WebSocket subscriber ([`crate::wsclient`]): connect to `/ws`, subscribe to one stream from
//! a seq, then feed every `event` message to its [`Subscriber`] until it has everything or the
//! coordinator gives up.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::timeout;

use crate::subscriber::{Assignment, Control, Subscriber, CONNECT_TIMEOUT};
use crate::wsclient::{Client, Message, WireError};

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
    let mut client = match opened {
        Ok(Ok(client)) => client,
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
    let mut until = control.until(&subscriber.assignment);
    while !until.reached(&subscriber) {
        tokio::select! {
            // Messages first: the signal is looked at only when none is waiting.
            biased;
            message = client.next() => {
                if !handle(&mut subscriber, message) {
                    break;
                }
            }
            () = &mut signalled => {
                signalled.set(control.signalled());
                until = control.until(&subscriber.assignment);
            }
        }
    }
    let _ = timeout(std::time::Duration::from_secs(1), client.close()).await;
    subscriber
}

/// Connects and subscribes; `Err` is the error kind.
async fn open(assignment: &Assignment) -> Result<Client, String> {
    let mut client = Client::connect(&assignment.endpoint.authority, "/ws")
        .await
        .map_err(|_| "ws_connect".to_owned())?;
    let subscribe = json!({
        "type": "subscribe",
        "streamId": assignment.stream_id,
        "afterSeq": assignment.after_seq,
    });
    client
        .send_text(&subscribe.to_string())
        .await
        .map_err(|_| "ws_connect".to_owned())?;
    loop {
        let text = match client.next().await {
            Ok(Message::Text(text)) => text,
            Ok(Message::Binary(_)) => continue,
            Ok(Message::Close(..)) | Err(_) => return Err("ws_closed_before_subscribed".into()),
        };
        let Ok(parsed) = serde_json::from_str::<ServerMessage<'_>>(text) else {
            return Err("ws_unparsable_message".into());
        };
        match parsed.kind.as_ref() {
            "subscribed" => return Ok(client),
            "error" => return Err(format!("ws_error_{}", parsed.code.unwrap_or_default())),
            _ => {}
        }
    }
}

/// Handles one message; `false` ends the subscription.
fn handle(subscriber: &mut Subscriber, message: Result<Message<'_>, WireError>) -> bool {
    match message {
        Ok(Message::Text(text)) => match serde_json::from_str::<ServerMessage<'_>>(text) {
            Ok(parsed) => on_message(subscriber, parsed),
            Err(_) => {
                subscriber.fail("ws_unparsable_message");
                true
            }
        },
        Ok(Message::Binary(_)) => true,
        Ok(Message::Close(code, reason)) => {
            subscriber.fail(close_kind(code, reason));
            false
        }
        Err(WireError::Closed) => {
            subscriber.fail("ws_closed");
            false
        }
        Err(WireError::Io(_)) => {
            subscriber.fail("ws_io");
            false
        }
        Err(WireError::Protocol(_)) => {
            subscriber.fail("ws_protocol");
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
fn close_kind(code: u16, reason: &str) -> String {
    if reason.contains("slow consumer") {
        format!("ws_closed_{code}_slow_consumer")
    } else {
        format!("ws_closed_{code}")
    }
}

#[cfg(test)]
mod tests {
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

    fn text(json: &str) -> Result<Message<'_>, WireError> {
        Ok(Message::Text(json))
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
        let close = Message::Close(1008, "slow consumer; resume from seq 7");

        assert!(!handle(&mut subscriber, Ok(close)));
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
