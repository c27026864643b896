//! Subscriptions over the WebSocket (`/ws` on the REST port): one connection per
//! subscription, authenticated by the API key on the handshake or a ticket, subscribing with
//! `afterSeq` and `epoch`.

use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::follow::{self, Incoming, Lost, Sequenced, Session};
use super::position::Position;
use crate::error::ApiError;
use crate::{Client, ClientError, Event, EventType, WsAuth};

/// How long a handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl Sequenced for Event {
    fn seq(&self) -> u64 {
        self.seq
    }

    fn is_last(&self) -> bool {
        self.kind == EventType::StreamStopped
    }
}

/// Opens WebSocket sessions for one stream.
pub(crate) struct Connector {
    client: Client,
    stream_id: String,
    idle_timeout: Duration,
}

impl Connector {
    pub(crate) fn new(client: &Client, stream_id: &str, idle_timeout: Duration) -> Self {
        Self {
            client: client.clone(),
            stream_id: stream_id.to_owned(),
            idle_timeout,
        }
    }

    /// The handshake request: the URL (with a fresh ticket if so configured) and the key.
    async fn request(&self) -> Result<tungstenite::handshake::client::Request, Lost> {
        let config = self.client.config();
        let mut url = config.ws.clone();
        let key = config.api_key.as_ref();
        if let (Some(_), WsAuth::Ticket) = (key, config.ws_auth) {
            let ticket = self.client.ws_ticket().await.map_err(rest_failure)?;
            url.query_pairs_mut().append_pair("ticket", &ticket.ticket);
        }
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|err| Lost::Fatal(ClientError::WebSocket(Box::new(err))))?;
        if let (Some(key), WsAuth::Header) = (key, config.ws_auth) {
            let value = HeaderValue::from_str(&key.bearer()).map_err(|_| {
                Lost::Fatal(ClientError::InvalidUrl {
                    url: url.to_string(),
                    reason: "the API key is not a valid header value".into(),
                })
            })?;
            request.headers_mut().insert("authorization", value);
        }
        Ok(request)
    }

    async fn connect(&self, from: &Position) -> Result<WsSession, Lost> {
        let request = self.request().await?;
        let connector = crate::tls::ws_connector().map_err(Lost::Fatal)?;
        let (mut socket, _) = timeout(
            HANDSHAKE_TIMEOUT,
            tokio_tungstenite::connect_async_tls_with_config(request, None, false, connector),
        )
        .await
        .map_err(|_| Lost::Retry(ClientError::Timeout(HANDSHAKE_TIMEOUT)))?
        .map_err(handshake_failure)?;
        let mut subscribe = json!({"type": "subscribe", "streamId": self.stream_id});
        if let Some(after) = from.last {
            subscribe["afterSeq"] = after.into();
        }
        if let Some(epoch) = &from.epoch {
            subscribe["epoch"] = epoch.as_str().into();
        }
        socket
            .send(Message::text(subscribe.to_string()))
            .await
            .map_err(|err| Lost::Retry(ClientError::WebSocket(Box::new(err))))?;
        Ok(WsSession {
            socket,
            stream_id: self.stream_id.clone(),
            idle_timeout: self.idle_timeout,
        })
    }
}

impl follow::Connector<Event> for Connector {
    fn open<'a>(
        &'a self,
        from: &'a Position,
    ) -> BoxFuture<'a, Result<Box<dyn Session<Event>>, Lost>> {
        Box::pin(async move {
            let session = self.connect(from).await?;
            Ok(Box::new(session) as Box<dyn Session<Event>>)
        })
    }
}

/// A failed ticket request: worth retrying only when the service said so or was not reached.
fn rest_failure(err: ClientError) -> Lost {
    match err.status() {
        Some(status) if !matches!(status, 429 | 503) => Lost::Fatal(err),
        Some(_) | None => Lost::Retry(err),
    }
}

/// A failed handshake: an HTTP refusal is the API's error envelope (a 4xx other than 429 is
/// final); anything else is a connection problem, worth retrying.
fn handshake_failure(err: tungstenite::Error) -> Lost {
    let tungstenite::Error::Http(response) = err else {
        return Lost::Retry(ClientError::WebSocket(Box::new(err)));
    };
    let status = response.status().as_u16();
    let body = response.body().as_deref().unwrap_or_default();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::retry::parse_retry_after);
    let error = ClientError::Api(Box::new(ApiError::from_answer(
        status,
        body,
        None,
        retry_after,
    )));
    if (400..500).contains(&status) && status != 429 {
        Lost::Fatal(error)
    } else {
        Lost::Retry(error)
    }
}

/// One WebSocket following one stream.
struct WsSession {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    stream_id: String,
    idle_timeout: Duration,
}

impl Session<Event> for WsSession {
    fn next(&mut self) -> BoxFuture<'_, Result<Incoming<Event>, Lost>> {
        Box::pin(self.receive())
    }
}

impl WsSession {
    async fn receive(&mut self) -> Result<Incoming<Event>, Lost> {
        loop {
            let frame = timeout(self.idle_timeout, self.socket.next())
                .await
                .map_err(|_| {
                    Lost::Retry(ClientError::Disconnected(format!(
                        "nothing heard for {:?}",
                        self.idle_timeout
                    )))
                })?;
            let message = match frame {
                None => return Err(lost("the connection ended")),
                Some(Err(err)) => return Err(Lost::Retry(ClientError::WebSocket(Box::new(err)))),
                Some(Ok(message)) => message,
            };
            match message {
                Message::Text(text) => {
                    if let Some(incoming) = read(&text, &self.stream_id)? {
                        return Ok(incoming);
                    }
                }
                Message::Close(frame) => {
                    let why = frame.map_or_else(
                        || "closed".to_owned(),
                        |f| format!("closed ({}): {}", u16::from(f.code), f.reason),
                    );
                    return Err(lost(&why));
                }
                Message::Binary(_) | Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }
}

fn lost(why: &str) -> Lost {
    Lost::Retry(ClientError::Disconnected(why.to_owned()))
}

/// A server message, as far as following one stream goes.
#[derive(Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
enum ServerMessage {
    Subscribed {
        stream_id: String,
        after_seq: Option<u64>,
        epoch: Option<String>,
    },
    Event {
        stream_id: String,
        event: Event,
    },
    ResyncRequired {
        stream_id: String,
        after_seq: Option<u64>,
        message: String,
    },
    Error {
        code: String,
        message: String,
    },
    /// `connected`, `pong`, `unsubscribed`, `audience`, and whatever a newer service adds.
    #[serde(other)]
    Other,
}

/// What a text frame means for the subscription to `stream_id` (`None`: nothing).
fn read(text: &str, stream_id: &str) -> Result<Option<Incoming<Event>>, Lost> {
    let message: ServerMessage = serde_json::from_str(text).map_err(|err| {
        Lost::Fatal(ClientError::Decode {
            what: "a WebSocket message".into(),
            reason: err.to_string(),
        })
    })?;
    Ok(match message {
        ServerMessage::Subscribed {
            stream_id: id,
            after_seq,
            epoch,
        } if id == stream_id => Some(Incoming::Subscribed { after_seq, epoch }),
        ServerMessage::Event {
            stream_id: id,
            event,
        } if id == stream_id => Some(Incoming::Event(event)),
        ServerMessage::ResyncRequired {
            stream_id: id,
            after_seq,
            message,
        } if id == stream_id => Some(Incoming::ResyncRequired { after_seq, message }),
        // The store failed while replaying: subscribing again from the position is the cure.
        ServerMessage::Error { code, message } if code == "store_unavailable" => {
            return Err(Lost::Retry(ClientError::Subscription { code, message }))
        }
        ServerMessage::Error { code, message } => {
            return Err(Lost::Fatal(ClientError::Subscription { code, message }))
        }
        ServerMessage::Subscribed { .. }
        | ServerMessage::Event { .. }
        | ServerMessage::ResyncRequired { .. }
        | ServerMessage::Other => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "2f0e5a52-9a77-4d8e-9d1b-3c1f6a8e0b11";

    fn event(seq: u64, kind: &str) -> String {
        json!({"type": "event", "streamId": ID, "seq": seq, "event": {
            "id": "e", "seq": seq, "type": kind, "streamId": ID,
            "timestamp": "2026-12-07T12:00:00.000Z", "data": {}, "instanceId": "i"}})
        .to_string()
    }

    #[test]
    fn events_acks_and_resyncs_of_the_stream_are_read() {
        let ack =
            json!({"type": "subscribed", "streamId": ID, "seq": 7, "afterSeq": 5, "epoch": "e1"});

        assert!(matches!(
            read(&ack.to_string(), ID),
            Ok(Some(Incoming::Subscribed { after_seq: Some(5), epoch: Some(ref e) })) if e == "e1"
        ));
        match read(&event(6, "stream_stopped"), ID) {
            Ok(Some(Incoming::Event(event))) => {
                assert_eq!(event.seq, 6);
                assert!(event.is_last());
            }
            other => panic!("{other:?}"),
        }
        let resync =
            json!({"type": "resync_required", "streamId": ID, "afterSeq": 3, "message": "gone"});
        assert!(matches!(
            read(&resync.to_string(), ID),
            Ok(Some(Incoming::ResyncRequired {
                after_seq: Some(3),
                ..
            }))
        ));
    }

    #[test]
    fn other_messages_and_other_streams_are_skipped() {
        for text in [
            json!({"type": "connected"}).to_string(),
            json!({"type": "pong"}).to_string(),
            json!({"type": "audience", "streamId": ID, "seq": 3, "audience": {}}).to_string(),
            json!({"type": "something_new"}).to_string(),
            event(1, "participant_joined").replace(ID, "another"),
        ] {
            assert!(matches!(read(&text, ID), Ok(None)), "{text}");
        }
        let unknown_type = event(2, "stream_went_viral");
        assert!(matches!(
            read(&unknown_type, ID),
            Ok(Some(Incoming::Event(Event {
                kind: EventType::Unknown,
                ..
            })))
        ));
    }

    #[test]
    fn a_refused_subscription_ends_it_but_a_store_failure_is_retried() {
        let refused =
            json!({"type": "error", "code": "stream_not_found", "message": "no", "streamId": ID});
        let unavailable = json!({"type": "error", "code": "store_unavailable", "message": "down"});

        assert!(matches!(
            read(&refused.to_string(), ID),
            Err(Lost::Fatal(ClientError::Subscription { ref code, .. })) if code == "stream_not_found"
        ));
        assert!(matches!(
            read(&unavailable.to_string(), ID),
            Err(Lost::Retry(_))
        ));
    }
}
