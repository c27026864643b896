//! One client's connection: its reads, the deliveries of the streams it follows, heartbeats,
//! and how it ends (a close frame with a reason, whatever the cause).

use orchestrator_domain::values::printable;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::web::BytesMut;
use bytestring::ByteString;
use futures_util::FutureExt;
use orchestrator_domain::{error::StreamError, service::StreamService, values::StreamId};
use orchestrator_realtime::{
    AudienceInterval, FollowError, Following, Next, Subscriber, Subscription,
};
use serde_json::json;
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;

use crate::limits::KeySlot;
use crate::message::{parse, ClientMessage};
use crate::reader::{Incoming, Reader, Refusal};
use crate::socket::{self, CloseCode, CloseReason};
use crate::{JsonCodec, WsConfig};

/// The connection cannot be written to any more (closed, or stalled past the timeout).
struct Gone;

/// What the loop does after a step.
enum Flow {
    Continue,
    /// Closes with this reason (`None`: a close frame without payload).
    Close(Option<CloseReason>),
}

enum Step {
    Client(Option<Result<Incoming, Refusal>>),
    Deliver(Next<ByteString>),
    Heartbeat,
    ShuttingDown,
}

/// A connection the handshake accepted, to be served once the HTTP server hands its socket
/// over ([`crate::takeover`]).
pub(crate) struct Pending {
    pub(crate) subscriber: Subscriber<JsonCodec>,
    pub(crate) service: StreamService,
    pub(crate) config: WsConfig,
    /// Cancelled when the server shuts down.
    pub(crate) shutdown: CancellationToken,
    /// This connection's place among its key's connections, given back when it ends.
    pub(crate) slot: Option<KeySlot>,
}

impl Pending {
    /// The connection served on `io`, starting with the client's bytes that came with the
    /// handshake. Boxed here, outside any future: it lives as long as the connection.
    pub(crate) fn serve(
        self,
        io: TcpStream,
        leftover: BytesMut,
    ) -> Pin<Box<dyn Future<Output = ()>>> {
        let reader = Reader::with_leftover(self.config.max_message_bytes, leftover);
        let connection = Connection {
            io,
            reader,
            deferred: None,
            subscriber: self.subscriber,
            service: self.service,
            config: self.config,
            last_heard: Instant::now(),
            shutdown: self.shutdown,
            _slot: self.slot,
            metrics: crate::metered::ConnectionMetrics::opened(),
        };
        Box::pin(connection.run())
    }
}

struct Connection {
    io: TcpStream,
    reader: Reader,
    /// Taken from the subscriber while frames were gathered for one write, handled next.
    deferred: Option<Next<ByteString>>,
    subscriber: Subscriber<JsonCodec>,
    service: StreamService,
    config: WsConfig,
    last_heard: Instant,
    shutdown: CancellationToken,
    _slot: Option<KeySlot>,
    metrics: crate::metered::ConnectionMetrics,
}

/// How long a closing connection waits for the client to end the TCP connection after the
/// server's close frame and FIN: the close frame must reach the client before the socket is
/// dropped, and dropping it with unread bytes would reset the connection and lose the frame.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// The close frame that answers a refusal of the client's bytes.
fn refusal_reason(refusal: Refusal, max_message_bytes: usize) -> CloseReason {
    let description = if refusal == Refusal::TooBig {
        format!("message too big (at most {max_message_bytes} bytes)")
    } else {
        refusal.to_string()
    };
    CloseReason {
        code: refusal.close_code(),
        description: Some(description),
    }
}

/// The `streamId` a client sent, as errors name it: whole when it is a stream id, else an
/// excerpt (an error must not echo a huge input back).
fn echoed(raw: &str) -> String {
    // A stream id is printable as it is; anything else is cut and escaped.
    if StreamService::parse_id(raw).is_ok() {
        raw.to_owned()
    } else {
        orchestrator_domain::values::excerpt(raw)
    }
}

fn close(code: CloseCode, description: impl Into<String>) -> Flow {
    Flow::Close(Some(CloseReason::new(code, description)))
}

impl Connection {
    async fn run(mut self) {
        let start = Instant::now() + self.config.heartbeat_interval;
        let mut heartbeat = tokio::time::interval_at(start, self.config.heartbeat_interval);
        if self.send(json!({"type": "connected"})).await.is_err() {
            return;
        }
        // Registered once rather than on each turn of the loop (each delivery). Each poll still
        // takes the shared token's lock (tokio-util checks it under the node's mutex); a child
        // token per connection would take its own instead, at the cost of a tree node per
        // connection: not measured yet, so not done.
        let shutdown = self.shutdown.clone();
        let mut shutting_down = std::pin::pin!(shutdown.cancelled());
        loop {
            let step = if let Some(next) = self.deferred.take() {
                Step::Deliver(next)
            } else {
                tokio::select! {
                message = socket::recv(&mut self.reader, &self.io) => Step::Client(message),
                next = self.subscriber.next() => Step::Deliver(next),
                _ = heartbeat.tick() => Step::Heartbeat,
                () = &mut shutting_down => Step::ShuttingDown,
                }
            };
            let flow = match step {
                Step::Client(None) => return,
                // Boxed: an idle connection's task is as large as the largest thing its loop
                // awaits, and a client's message (a subscribe reads the store) was the largest,
                // 1 KiB of every connection's 3.2 KiB task, for a step taken a few times per
                // connection. Deliveries, the hot path, are awaited in place.
                Step::Client(Some(message)) => {
                    // Built in a statement of its own: a future made in the statement that
                    // awaits it keeps its space in this loop's state even boxed.
                    let handling = Box::pin(self.on_message(message));
                    handling.await
                }
                Step::Deliver(next) => self.deliver(next).await,
                Step::Heartbeat => self.heartbeat().await,
                Step::ShuttingDown => Ok(self.going_away()),
            };
            match flow {
                Ok(Flow::Continue) => {}
                Ok(Flow::Close(reason)) => {
                    // A stalled client cannot take the close frame either: give up after the
                    // timeout rather than hold the connection.
                    let closing = socket::close(&self.io, reason.as_ref());
                    if let Ok(Ok(())) = timeout(self.config.client_timeout, closing).await {
                        self.linger().await;
                    }
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
        match timeout(
            self.config.client_timeout,
            socket::text_frame(&self.io, &frame),
        )
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(Gone),
        }
    }

    /// After the close frame: ends the server's side of the TCP connection (RFC 6455 §7.1.1:
    /// the server closes it first), then reads (and drops) what the client still sends until
    /// it closes too, for [`CLOSE_LINGER`] at most.
    async fn linger(&mut self) {
        let _ = timeout(CLOSE_LINGER, async {
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut self.io).await;
            let mut sink = [0u8; 1024];
            while self.io.readable().await.is_ok() {
                match self.io.try_read(&mut sink) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return,
                }
            }
        })
        .await;
    }

    async fn on_message(&mut self, message: Result<Incoming, Refusal>) -> Result<Flow, Gone> {
        self.last_heard = Instant::now();
        match message {
            Ok(Incoming::Text(text)) => self.on_text(&text).await,
            Ok(Incoming::Ping(payload)) => {
                let pong = socket::pong(&self.io, &payload);
                match timeout(self.config.client_timeout, pong).await {
                    Ok(Ok(())) => Ok(Flow::Continue),
                    Ok(Err(_)) | Err(_) => Err(Gone),
                }
            }
            Ok(Incoming::Pong) => Ok(Flow::Continue),
            // §5.5.1: the answer to a close carries the client's code.
            Ok(Incoming::Close(code)) => Ok(Flow::Close(code.map(|code| CloseReason {
                code,
                description: None,
            }))),
            Err(refusal) => {
                // Bad input from a client is counted, never logged above debug.
                tracing::debug!(error = %refusal, "WebSocket client's bytes refused; closing");
                crate::metered::refused(refusal);
                let reason = refusal_reason(refusal, self.config.max_message_bytes);
                Ok(Flow::Close(Some(reason)))
            }
        }
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
                    // serde quotes what it could not read: the client's text.
                    "message": format!("not a valid message: {}", printable(&err.to_string())),
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
        let id = match StreamService::parse_id(raw_id) {
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
            Ok(id) => id,
            Err(err) => return self.send_error(&err, raw_id).await,
        };
        let interval = subscription.audience_interval;
        match self
            .subscriber
            .follow(&self.service, id, subscription)
            .await
        {
            Ok(Following { stream, subscribed }) => {
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
            Err(FollowError::ResyncRequired) => {
                self.send(json!({
                    "type": "resync_required",
                    "streamId": id,
                    "message": "this position is not valid for the stream (ahead of it, or from \
                                another epoch): reload its state and subscribe without afterSeq",
                }))
                .await
            }
            Err(FollowError::Stream(err)) => self.send_error(&err, raw_id).await,
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
            "code": orchestrator_domain::policy::codes::of(err),
            "message": printable(&err.to_string()),
            "streamId": echoed(stream_id),
        }))
        .await
    }

    async fn deliver(&mut self, next: Next<ByteString>) -> Result<Flow, Gone> {
        match next {
            Next::Event { frame, .. } | Next::Audience { frame, .. } => {
                self.send_queued(frame).await?;
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

    /// Sends `first` and the frames already queued behind it (up to a batch) in one write:
    /// what a client fell behind on reaches it in one segment, as the HTTP server's own writer
    /// used to coalesce it, rather than one system call on each side per frame.
    async fn send_queued(&mut self, first: ByteString) -> Result<(), Gone> {
        let mut more: Vec<ByteString> = Vec::new();
        while more.len() + 1 < socket::MAX_BATCH {
            match self.subscriber.next().now_or_never() {
                Some(Next::Event { frame, .. } | Next::Audience { frame, .. }) => more.push(frame),
                Some(other) => {
                    self.deferred = Some(other);
                    break;
                }
                None => break,
            }
        }
        let count = 1 + more.len() as u64;
        let written = if more.is_empty() {
            timeout(
                self.config.client_timeout,
                socket::text_frame(&self.io, &first),
            )
            .await
        } else {
            let texts: Vec<&str> = std::iter::once(&first).chain(&more).map(|f| &**f).collect();
            timeout(
                self.config.client_timeout,
                socket::text_frames(&self.io, &texts),
            )
            .await
        };
        match written {
            Ok(Ok(())) => {
                self.metrics.delivered(count);
                Ok(())
            }
            Ok(Err(_)) | Err(_) => Err(Gone),
        }
    }

    async fn heartbeat(&mut self) -> Result<Flow, Gone> {
        self.metrics.flush();
        if self.last_heard.elapsed() > self.config.client_timeout {
            return Ok(close(CloseCode::Policy, "heartbeat timeout"));
        }
        match timeout(self.config.client_timeout, socket::ping(&self.io)).await {
            Ok(Ok(())) => Ok(Flow::Continue),
            Ok(Err(_)) | Err(_) => Err(Gone),
        }
    }
}
