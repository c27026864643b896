//! WebSocket subscriptions of the livestream orchestrator, on the HTTP port (`/` as the seed
//! documents, and `/ws`), with actix-ws.
//!
//! One connection follows any number of streams. Client → server (JSON text frames):
//! `{"type":"subscribe","streamId":"…","afterSeq"?:n,"epoch"?:"…","audienceIntervalMs"?:n}`,
//! `{"type":"unsubscribe","streamId":"…"}`, `{"type":"ping"}`. Server → client: `connected`,
//! `subscribed {streamId, seq, afterSeq, epoch, audienceIntervalMs?}`,
//! `event {streamId, seq, event}`, `audience {streamId, seq, audience}`,
//! `unsubscribed {streamId}`, `pong`, `error {code, message, streamId?}`,
//! `resync_required {streamId, afterSeq, message}`.
//!
//! With `audienceIntervalMs` (50..=60000) a dashboard of a big stream does not drown: viewers'
//! `participant_joined` / `participant_left` are folded into at most one
//! `audience {streamId, seq, audience: {active, hosts, viewers, totalJoined}}` per interval,
//! where `seq` is the last event it accounts for; every other event still arrives as an `event`,
//! in seq order (a pending `audience` goes out right before one that carries no counters).
//! Resuming with `afterSeq` = the last `seq` received (of an `event` or an `audience`) misses
//! nothing and repeats nothing.
//!
//! A bad request (malformed JSON, unknown stream) is answered with `error` and the connection
//! stays open; a binary frame (1003) or an oversized one (1009) closes it with a reason. The
//! server pings every `heartbeat_interval` and closes a connection it has not heard from for
//! `client_timeout`. A client that reads slower than its streams change overflows its queue and
//! is closed with 1008 `slow consumer; resume from seq N`, after everything queued before.
//!
//! The handshake's HTTP refusals are answered in the REST API's error envelope, rendered by the
//! [`HttpErrorResponder`] the app passes in (this crate does not depend on the REST transport).
//! Browsers' `Origin` is checked by the CORS layer the app wraps the whole HTTP port with, against
//! the same allowed origins as REST: a page of another origin gets 403 `origin_not_allowed` before
//! the handshake reaches [`configure`]'s routes; a client without `Origin` (not a browser) passes.
//!
//! # Layout
//!
//! - [`JsonCodec`]: serializes each event (and each audience update) once into the frame every
//!   subscriber shares.
//! - [`WsState`], [`WsConfig`], [`configure`]: mounting the routes on an actix app.
//! - `Connection`: one client's loop (reads, deliveries, heartbeats).
//! - `metered`: open connections, deliveries and slow-consumer closes, for `/metrics`.

use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use bytestring::ByteString;
use orchestrator_domain::{StreamError, StreamEvent, StreamId, StreamService};
use orchestrator_realtime::{
    Audience, AudienceInterval, Codec, Hub, Next, SubscribeError, Subscriber, Subscription,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::{timeout, Instant};

mod metered;

/// Serializes an event once into the `event` message shared by every subscriber (and an
/// audience update once into the `audience` message).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonCodec;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventMessage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    stream_id: StreamId,
    seq: u64,
    event: &'a StreamEvent,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AudienceMessage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    stream_id: StreamId,
    seq: u64,
    audience: Option<&'a Audience>,
}

fn to_frame(message: &impl Serialize) -> ByteString {
    serde_json::to_string(message)
        .unwrap_or_else(|err| {
            json!({"type": "error", "code": "internal_error", "message": err.to_string()})
                .to_string()
        })
        .into()
}

impl Codec for JsonCodec {
    type Frame = ByteString;

    fn encode(&self, event: &StreamEvent) -> ByteString {
        to_frame(&EventMessage {
            kind: "event",
            stream_id: event.stream_id,
            seq: event.seq,
            event,
        })
    }

    fn encode_audience(&self, last: &StreamEvent, audience: Option<&Audience>) -> ByteString {
        to_frame(&AudienceMessage {
            kind: "audience",
            stream_id: last.stream_id,
            seq: last.seq,
            audience,
        })
    }
}

/// Connection tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsConfig {
    /// How often the server pings.
    pub heartbeat_interval: Duration,
    /// A connection silent this long (no frame, no pong), or whose writes stall this long, is
    /// closed.
    pub client_timeout: Duration,
    /// Largest client message (1009 beyond).
    pub max_message_bytes: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(15),
            client_timeout: Duration::from_secs(45),
            max_message_bytes: 64 * 1024,
        }
    }
}

/// Renders an HTTP error answer (status, stable code, human message) in the API's envelope.
pub type HttpErrorResponder = fn(StatusCode, &'static str, String) -> HttpResponse;

/// What the WebSocket routes share.
#[derive(Debug, Clone)]
pub struct WsState {
    /// Renders the handshake's refusals like every other HTTP error of the port.
    pub http_error: HttpErrorResponder,
    /// The use cases (to check that a stream exists and read its seq).
    pub service: StreamService,
    /// The instance's fan-out of encoded events.
    pub hub: Hub<JsonCodec>,
    /// Connection tuning.
    pub config: WsConfig,
}

/// Mounts the WebSocket endpoint at `/` and `/ws`.
pub fn configure(state: WsState) -> impl FnOnce(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(state))
            .route("/", web::get().to(upgrade))
            .route("/ws", web::get().to(upgrade));
    }
}

async fn upgrade(
    request: HttpRequest,
    body: web::Payload,
    state: web::Data<WsState>,
) -> HttpResponse {
    let Ok((response, session, messages)) = actix_ws::handle(&request, body) else {
        // Plain HTTP on the WebSocket path: say what it is, in the API's error envelope.
        let mut refusal = (state.http_error)(
            StatusCode::UPGRADE_REQUIRED,
            "websocket_upgrade_required",
            "this endpoint speaks WebSocket: connect to ws://<host>:<port>/ws".to_owned(),
        );
        refusal.headers_mut().insert(
            header::UPGRADE,
            header::HeaderValue::from_static("websocket"),
        );
        return refusal;
    };
    let config = state.config;
    let messages = messages
        .max_frame_size(config.max_message_bytes)
        .aggregate_continuations()
        .max_continuation_size(config.max_message_bytes);
    let connection = Connection {
        session,
        messages,
        subscriber: state.hub.subscriber(),
        service: state.service.clone(),
        config,
        last_heard: Instant::now(),
        metrics: metered::ConnectionMetrics::opened(),
    };
    actix_web::rt::spawn(connection.run());
    response
}

#[derive(Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
enum ClientMessage {
    Subscribe {
        stream_id: String,
        #[serde(default)]
        after_seq: Option<u64>,
        #[serde(default)]
        epoch: Option<String>,
        #[serde(default)]
        audience_interval_ms: Option<u64>,
    },
    Unsubscribe {
        stream_id: String,
    },
    Ping,
}

/// The connection cannot be written to any more (closed, or stalled past the timeout).
struct Gone;

/// What the loop does after a step.
enum Flow {
    Continue,
    Close(CloseReason),
}

enum Step {
    Client(Option<Result<AggregatedMessage, actix_ws::ProtocolError>>),
    Deliver(Next<ByteString>),
    Heartbeat,
}

struct Connection {
    session: Session,
    messages: AggregatedMessageStream,
    subscriber: Subscriber<JsonCodec>,
    service: StreamService,
    config: WsConfig,
    last_heard: Instant,
    metrics: metered::ConnectionMetrics,
}

fn close(code: CloseCode, description: impl Into<String>) -> Flow {
    Flow::Close(CloseReason {
        code,
        description: Some(description.into()),
    })
}

impl Connection {
    async fn run(mut self) {
        let start = Instant::now() + self.config.heartbeat_interval;
        let mut heartbeat = tokio::time::interval_at(start, self.config.heartbeat_interval);
        if self.send(json!({"type": "connected"})).await.is_err() {
            return;
        }
        loop {
            let step = tokio::select! {
                message = self.messages.recv() => Step::Client(message),
                next = self.subscriber.next() => Step::Deliver(next),
                _ = heartbeat.tick() => Step::Heartbeat,
            };
            let flow = match step {
                Step::Client(None) => return,
                Step::Client(Some(message)) => self.on_message(message).await,
                Step::Deliver(next) => self.deliver(next).await,
                Step::Heartbeat => self.heartbeat().await,
            };
            match flow {
                Ok(Flow::Continue) => {}
                Ok(Flow::Close(reason)) => {
                    // A stalled client cannot take the close frame either: give up after the
                    // timeout rather than hold the connection.
                    let _ =
                        timeout(self.config.client_timeout, self.session.close(Some(reason))).await;
                    return;
                }
                Err(Gone) => return,
            }
        }
    }

    async fn send(&mut self, text: impl ToString) -> Result<(), Gone> {
        self.send_frame(text.to_string().into()).await
    }

    async fn send_frame(&mut self, frame: ByteString) -> Result<(), Gone> {
        match timeout(self.config.client_timeout, self.session.text(frame)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(Gone),
        }
    }

    async fn on_message(
        &mut self,
        message: Result<AggregatedMessage, actix_ws::ProtocolError>,
    ) -> Result<Flow, Gone> {
        self.last_heard = Instant::now();
        match message {
            Ok(AggregatedMessage::Text(text)) => self.on_text(&text).await,
            Ok(AggregatedMessage::Binary(_)) => Ok(close(
                CloseCode::Unsupported,
                "binary frames are not supported; send JSON text",
            )),
            Ok(AggregatedMessage::Ping(payload)) => {
                self.session.pong(&payload).await.map_err(|_| Gone)?;
                Ok(Flow::Continue)
            }
            Ok(AggregatedMessage::Pong(_)) => Ok(Flow::Continue),
            Ok(AggregatedMessage::Close(_)) => Ok(Flow::Close(CloseReason {
                code: CloseCode::Normal,
                description: None,
            })),
            Err(actix_ws::ProtocolError::Overflow) => Ok(close(
                CloseCode::Size,
                format!(
                    "message too big (at most {} bytes)",
                    self.config.max_message_bytes
                ),
            )),
            Err(err) => Ok(close(CloseCode::Protocol, err.to_string())),
        }
    }

    async fn on_text(&mut self, text: &str) -> Result<Flow, Gone> {
        let message = match serde_json::from_str::<ClientMessage>(text) {
            Ok(message) => message,
            Err(err) => {
                self.send(json!({
                    "type": "error",
                    "code": "invalid_message",
                    "message": format!("not a valid message: {err}"),
                }))
                .await?;
                return Ok(Flow::Continue);
            }
        };
        match message {
            ClientMessage::Subscribe {
                stream_id,
                after_seq,
                epoch,
                audience_interval_ms,
            } => {
                let interval = audience_interval_ms.map(AudienceInterval::from_millis);
                match interval.transpose() {
                    Ok(audience_interval) => {
                        let subscription = Subscription {
                            after_seq,
                            epoch: epoch.as_deref(),
                            audience_interval,
                        };
                        self.subscribe(&stream_id, subscription).await?;
                    }
                    Err(err) => {
                        self.send(json!({
                            "type": "error",
                            "code": "invalid_message",
                            "message": format!("audienceIntervalMs: {err}"),
                            "streamId": stream_id,
                        }))
                        .await?;
                    }
                }
            }
            ClientMessage::Unsubscribe { stream_id } => match StreamService::parse_id(&stream_id) {
                Ok(id) => {
                    self.subscriber.unsubscribe(id);
                    self.send(json!({"type": "unsubscribed", "streamId": stream_id}))
                        .await?;
                }
                Err(err) => self.send_error(&err, &stream_id).await?,
            },
            ClientMessage::Ping => self.send(json!({"type": "pong"})).await?,
        }
        Ok(Flow::Continue)
    }

    async fn subscribe(
        &mut self,
        raw_id: &str,
        subscription: Subscription<'_>,
    ) -> Result<(), Gone> {
        let stream = match StreamService::parse_id(raw_id) {
            Ok(id) => self.service.get(id).await,
            Err(err) => Err(err),
        };
        let stream = match stream {
            Ok(stream) => stream,
            Err(err) => return self.send_error(&err, raw_id).await,
        };
        let interval = subscription.audience_interval;
        match self
            .subscriber
            .subscribe(stream.id, stream.seq, subscription)
            .await
        {
            Ok(subscribed) => {
                let mut message = json!({
                    "type": "subscribed",
                    "streamId": stream.id,
                    "seq": stream.seq,
                    "afterSeq": subscribed.after_seq,
                    "epoch": subscribed.epoch,
                });
                if let Some(interval) = interval {
                    message["audienceIntervalMs"] = interval.as_millis().into();
                }
                self.send(message).await
            }
            Err(SubscribeError::ResyncRequired) => {
                self.send(json!({
                    "type": "resync_required",
                    "streamId": stream.id,
                    "message": "this position is not valid for the stream (ahead of it, or from \
                                another epoch): reload its state and subscribe without afterSeq",
                }))
                .await
            }
            Err(SubscribeError::Store(err)) => {
                self.send_error(&StreamError::from(err), raw_id).await
            }
        }
    }

    async fn send_error(&mut self, err: &StreamError, stream_id: &str) -> Result<(), Gone> {
        self.send(json!({
            "type": "error",
            "code": err.code(),
            "message": err.to_string(),
            "streamId": stream_id,
        }))
        .await
    }

    async fn deliver(&mut self, next: Next<ByteString>) -> Result<Flow, Gone> {
        match next {
            Next::Event { frame, .. } | Next::Audience { frame, .. } => {
                self.send_frame(frame).await?;
                self.metrics.delivered();
            }
            Next::ResyncRequired { stream, after_seq } => {
                self.send(json!({
                    "type": "resync_required",
                    "streamId": stream,
                    "afterSeq": after_seq,
                    "message": format!(
                        "events after seq {after_seq} are no longer available: reload the \
                         stream's state and subscribe again"
                    ),
                }))
                .await?;
            }
            Next::Unavailable { stream, reason } => {
                self.send(json!({
                    "type": "error",
                    "code": "store_unavailable",
                    "message": format!("replay failed, subscribe again from your last seq: {reason}"),
                    "streamId": stream,
                }))
                .await?;
            }
            Next::Overflow => {
                self.metrics.slow_consumer();
                let positions: Vec<(StreamId, u64)> = self.subscriber.positions().collect();
                let reason = match positions.as_slice() {
                    [(_, seq)] => format!("slow consumer; resume from seq {seq}"),
                    _ => "slow consumer; resume each stream from its last seq".to_owned(),
                };
                return Ok(close(CloseCode::Policy, reason));
            }
        }
        Ok(Flow::Continue)
    }

    async fn heartbeat(&mut self) -> Result<Flow, Gone> {
        if self.last_heard.elapsed() > self.config.client_timeout {
            return Ok(close(CloseCode::Policy, "heartbeat timeout"));
        }
        self.session.ping(b"").await.map_err(|_| Gone)?;
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer_joined(seq: u64) -> StreamEvent {
        serde_json::from_value(json!({
            "id": "6f1c1d36-0a55-4b3e-9d8b-7d9f3c2b1a00",
            "seq": seq,
            "type": "participant_joined",
            "streamId": "0b5a3c9e-58f4-4a84-9f3e-2f1d6c7b8a90",
            "timestamp": "2024-05-01T12:00:00Z",
            "data": {"participant": {"identity": "v", "role": "viewer"}},
            "instanceId": "test",
        }))
        .unwrap()
    }

    #[test]
    fn an_audience_update_is_an_audience_message_naming_its_seq_and_the_counts() {
        let last = viewer_joined(42);
        let audience = Audience {
            active: 3,
            hosts: 1,
            viewers: 2,
            connected: 2,
            total_joined: 5,
        };

        let frame = JsonCodec.encode_audience(&last, Some(&audience));

        let message: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(
            message,
            json!({
                "type": "audience",
                "streamId": "0b5a3c9e-58f4-4a84-9f3e-2f1d6c7b8a90",
                "seq": 42,
                "audience": {"active": 3, "hosts": 1, "viewers": 2, "connected": 2, "totalJoined": 5},
            })
        );
    }
}
