//! WebSocket subscriptions of the livestream orchestrator, on the HTTP port (`/` as the seed
//! documents, and `/ws`): the handshake is an actix-web route, then the connection is taken
//! over from the HTTP server and served on its bare socket.
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
//! A bad request (malformed JSON, unknown stream, one stream more than
//! `max_subscriptions`) is answered with `error` and the connection stays open; a binary frame
//! (1003) or an oversized one (1009, as soon as its header declares too much) closes it with a
//! reason, as does anything RFC 6455 forbids (1002; 1007 for text that is not UTF-8, as soon as
//! the byte that makes it invalid arrives), counted in
//! `orchestrator_ws_protocol_errors_total{reason}`. A client's close is answered with its code.
//! `tests/ws_conformance` holds the transport to RFC 6455 (`docs/ws-conformance.md`). The server pings every `heartbeat_interval` and closes a connection it has not heard
//! from for `client_timeout`. A client that reads slower than its streams change overflows its
//! queue and is closed with 1008 `slow consumer; resume from seq N`, after everything queued
//! before. When the server shuts down, every connection is closed with 1001 (going away) and
//! the seq to resume from on another instance.
//!
//! Who may connect is decided in front of the routes (the HTTP transport's guard checks the
//! operator key or ticket and puts the caller's
//! `Principal` in the request); this crate limits the
//! connections each key holds ([`KeyConnections`]).
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
//! - [`message`]: [`ClientMessage`] and its pure [`parse`] (fuzzed on its own).
//! - [`takeover`]: the upgrade service the HTTP server hands handshakes to ([`takeover::serve`]).
//! - [`reader`]: the frame reader, pure (bytes in, [`reader::Incoming`] messages or a
//!   [`reader::Refusal`] out; fuzzed on its own), over actix-http's frame parser.
//! - `frames`: the raw bytes checked as they arrive: frames refused on their header, text at
//!   its first byte that is not UTF-8 (`utf8`), before the payload is buffered.
//! - `socket`: the WebSocket protocol on the bare socket (messages read, frames written).
//! - `connection`: one client's loop (reads, deliveries, heartbeats, shutdown).
//! - [`KeyConnections`] (`limits`): connections per operator key.
//! - `metered`: open connections, deliveries, slow-consumer closes and refusals, for
//!   `/metrics`.

use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use bytestring::ByteString;
use orchestrator_domain::policy::access::Principal;
use orchestrator_domain::{event::StreamEvent, service::StreamService, values::StreamId};
use orchestrator_realtime::{Audience, Codec, Hub};
use serde::Serialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

mod connection;
mod frames;
mod limits;
pub mod reader;
mod socket;
pub mod takeover;
mod utf8;

use connection::Pending;
pub use limits::KeyConnections;
pub use takeover::Takeover;

pub mod message;
pub use message::{parse, ClientMessage};

pub mod metered;

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
    /// Largest client message (1009 beyond, as soon as a frame header declares more).
    pub max_message_bytes: usize,
    /// Streams one connection may follow at once.
    pub max_subscriptions: usize,
    /// WebSocket connections one operator key may hold at once on this instance (0: no
    /// limit).
    pub max_connections_per_key: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(15),
            client_timeout: Duration::from_secs(45),
            max_message_bytes: 64 * 1024,
            max_subscriptions: 1000,
            max_connections_per_key: 1000,
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
    /// Cancelled when the server shuts down: every connection closes with 1001.
    pub shutdown: CancellationToken,
    /// Connections per operator key.
    pub connections: KeyConnections,
}

/// Mounts the WebSocket endpoint at `/` and `/ws`.
pub fn configure(state: WsState) -> impl FnOnce(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(state));
        for path in ["/", "/ws"] {
            cfg.service(
                web::resource(path)
                    .route(web::get().to(upgrade))
                    .default_service(web::to(not_get)),
            );
        }
    }
}

/// Any other method than `GET` on a WebSocket path: 405 in the API's error envelope, with
/// `Allow` (`HEAD` is routed as `GET` by the HTTP transport).
async fn not_get(request: HttpRequest, state: web::Data<WsState>) -> HttpResponse {
    let mut refusal = (state.http_error)(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} does not support {} (it supports GET, HEAD)",
            request.path(),
            request.method()
        ),
    );
    refusal
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
    refusal
}

async fn upgrade(request: HttpRequest, state: web::Data<WsState>) -> HttpResponse {
    let mut handshake = match actix_http::ws::handshake(request.head()) {
        Ok(handshake) => handshake,
        Err(_) => {
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
        }
    };
    let Some(takeover) = request.extensions().get::<Takeover>().cloned() else {
        // Only a server with the upgrade service ([`takeover::serve`]) can hand a connection
        // over; an app served without it cannot hold WebSocket connections.
        return (state.http_error)(
            StatusCode::SERVICE_UNAVAILABLE,
            "websocket_unavailable",
            "this server does not take WebSocket connections".to_owned(),
        );
    };
    let config = state.config;
    let principal = request.extensions().get::<Principal>().cloned();
    let slot = match principal.as_ref().and_then(Principal::key) {
        Some(key) => match state
            .connections
            .acquire(key, config.max_connections_per_key)
        {
            Some(slot) => Some(slot),
            None => {
                return (state.http_error)(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_connections",
                    format!(
                        "this API key already holds {} WebSocket connections on this instance",
                        config.max_connections_per_key
                    ),
                )
            }
        },
        None => None,
    };
    takeover.accept(Pending {
        subscriber: state.hub.subscriber(),
        service: state.service.clone(),
        config,
        shutdown: state.shutdown.clone(),
        slot,
    });
    HttpResponse::from(handshake.finish()).map_into_boxed_body()
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
