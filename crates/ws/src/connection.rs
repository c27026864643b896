//! One client's connection: its reads, the deliveries of the streams it follows, heartbeats,
//! and how it ends (a close frame with a reason, whatever the cause).

use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use bytestring::ByteString;
use orchestrator_domain::{StreamError, StreamId, StreamService};
use orchestrator_realtime::{AudienceInterval, Next, SubscribeError, Subscriber, Subscription};
use serde_json::json;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;

use crate::limits::KeySlot;
use crate::message::{parse, ClientMessage};
use crate::{JsonCodec, WsConfig};

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
    ShuttingDown,
}

pub(crate) struct Connection {
    pub(crate) session: Session,
    pub(crate) messages: AggregatedMessageStream,
    pub(crate) subscriber: Subscriber<JsonCodec>,
    pub(crate) service: StreamService,
    pub(crate) config: WsConfig,
    pub(crate) last_heard: Instant,
    /// Cancelled when the server shuts down.
    pub(crate) shutdown: CancellationToken,
    /// This connection's place among its key's connections, given back when it ends.
    pub(crate) _slot: Option<KeySlot>,
    pub(crate) metrics: crate::metered::ConnectionMetrics,
}

/// The `streamId` a client sent, as errors name it: whole when it is a stream id, else an
/// excerpt (an error must not echo a huge input back).
fn echoed(raw: &str) -> String {
    if StreamService::parse_id(raw).is_ok() {
        raw.to_owned()
    } else {
        orchestrator_domain::values::excerpt(raw)
    }
}

fn close(code: CloseCode, description: impl Into<String>) -> Flow {
    Flow::Close(CloseReason {
        code,
        description: Some(description.into()),
    })
}

impl Connection {
    pub(crate) async fn run(mut self) {
        let start = Instant::now() + self.config.heartbeat_interval;
        let mut heartbeat = tokio::time::interval_at(start, self.config.heartbeat_interval);
        if self.send(json!({"type": "connected"})).await.is_err() {
            return;
        }
        // Registered once: every connection shares the token, and registering on each turn of
        // the loop (each delivery) would take its lock from every worker thread.
        let shutdown = self.shutdown.clone();
        let mut shutting_down = std::pin::pin!(shutdown.cancelled());
        loop {
            let step = tokio::select! {
                message = self.messages.recv() => Step::Client(message),
                next = self.subscriber.next() => Step::Deliver(next),
                _ = heartbeat.tick() => Step::Heartbeat,
                () = &mut shutting_down => Step::ShuttingDown,
            };
            let flow = match step {
                Step::Client(None) => return,
                // Boxed: an idle connection's task is as large as the largest thing its loop
                // awaits, and a client's message (a subscribe reads the store) was the largest,
                // 1 KiB of every connection's 3.2 KiB task, for a step taken a few times per
                // connection. Deliveries, the hot path, are awaited in place.
                Step::Client(Some(message)) => Box::pin(self.on_message(message)).await,
                Step::Deliver(next) => self.deliver(next).await,
                Step::Heartbeat => self.heartbeat().await,
                Step::ShuttingDown => Ok(self.going_away()),
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
            Err(actix_ws::ProtocolError::Overflow) => Ok(self.too_big()),
            Err(actix_ws::ProtocolError::Io(err)) if crate::frames::is_oversized(&err) => {
                Ok(self.too_big())
            }
            Err(err) => {
                tracing::debug!(error = %err, "WebSocket protocol error; closing");
                Ok(close(CloseCode::Protocol, "protocol error"))
            }
        }
    }

    fn too_big(&self) -> Flow {
        close(
            CloseCode::Size,
            format!(
                "message too big (at most {} bytes)",
                self.config.max_message_bytes
            ),
        )
    }

    /// The server is shutting down: say where to resume, as for a slow consumer.
    fn going_away(&self) -> Flow {
        let positions: Vec<(StreamId, u64)> = self.subscriber.positions().collect();
        let reason = match positions.as_slice() {
            [(_, seq)] => format!("server shutting down; reconnect and resume from seq {seq}"),
            _ => "server shutting down; reconnect and resume each stream from its last seq"
                .to_owned(),
        };
        close(CloseCode::Away, reason)
    }

    async fn on_text(&mut self, text: &str) -> Result<Flow, Gone> {
        let message = match parse(text) {
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
                            "streamId": echoed(&stream_id),
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
            Ok(id) if self.over_subscription_limit(id) => {
                return self
                    .send(json!({
                        "type": "error",
                        "code": "too_many_subscriptions",
                        "message": format!(
                            "a connection may follow at most {} streams; unsubscribe from one \
                             or open another connection",
                            self.config.max_subscriptions
                        ),
                        "streamId": echoed(raw_id),
                    }))
                    .await;
            }
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

    /// Whether following `stream` would take this connection past its limit (following a
    /// stream again does not count).
    fn over_subscription_limit(&self, stream: StreamId) -> bool {
        let (mut count, mut already) = (0, false);
        for (id, _) in self.subscriber.positions() {
            count += 1;
            already |= id == stream;
        }
        !already && count >= self.config.max_subscriptions
    }

    async fn send_error(&mut self, err: &StreamError, stream_id: &str) -> Result<(), Gone> {
        self.send(json!({
            "type": "error",
            "code": err.code(),
            "message": err.to_string(),
            "streamId": echoed(stream_id),
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
