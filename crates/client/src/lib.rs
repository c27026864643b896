//! Typed async client of the livestream orchestrator, for Rust backends: every REST operation
//! with typed requests and answers, the gRPC `StreamService`, and subscriptions to a stream's
//! events that reconnect and resume by themselves.
//!
//! ```no_run
//! # async fn demo() -> Result<(), orchestrator_client::ClientError> {
//! use futures_util::StreamExt;
//! use orchestrator_client::{Client, CreateStream, Join, Update};
//!
//! let client = Client::builder("http://localhost:3000").api_key("lso_…").build()?;
//! let stream = client.create_stream(&CreateStream::named("launch")).await?;
//! let host = client.join(&stream.id, &Join::host("ada")).await?;
//! println!("host token: {}", host.token);
//! let mut events = client.subscribe(&stream.id);
//! while let Some(update) = events.next().await {
//!     match update? {
//!         Update::Event(event) => println!("{} {}", event.seq, event.kind),
//!         Update::ResyncRequired(resync) => println!("resync: {}", resync.message),
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # What it does for you
//!
//! - **Errors**: every refusal is [`ClientError::Api`] with the error envelope's stable `code`
//!   (`stream_not_found`, `invalid_transition`, …), its message, fields and request id.
//! - **Safe retries**: every mutation carries an `Idempotency-Key` (a UUID v4 per call, the
//!   same on each of its retries; or yours, [`Call::idempotency_key`]), so a retried mutation
//!   executes once. `503` and `429` are retried after their `Retry-After` (or an exponential
//!   backoff with jitter), as are connections refused before the request was sent; attempts
//!   and total time are bounded ([`RetryPolicy`]).
//! - **Auth**: an operator API key goes as `Authorization: Bearer` on REST and the WebSocket
//!   handshake, and as `authorization` metadata on gRPC.
//! - **Subscriptions** ([`Client::subscribe`], [`Client::subscribe_grpc`]): a `Stream` of a
//!   stream's events in seq order; on a lost connection it reconnects with backoff and
//!   resubscribes after the last seq delivered (with the store epoch), dropping duplicates, so
//!   no event is lost or repeated across reconnects. It ends after `stream_stopped`.
//!
//! # Layout
//!
//! - [`config`]: [`ClientBuilder`], [`RetryPolicy`], [`WsAuth`]; [`Client`] itself here.
//! - [`error`]: [`ClientError`] and the [`ApiError`] envelope.
//! - `rest`: one request with its key, retries and decoding ([`Call`], [`Answer`]);
//!   `retry`: backoff and `Retry-After`.
//! - `api`: the REST operations, one file per group (streams, participants, broadcast,
//!   service: events, tickets, probes, metrics).
//! - [`model`]: the typed requests and answers (the public JSON contract).
//! - [`grpc`]: the generated [`proto`] and the authenticated gRPC client.
//! - [`subscribe`]: [`Subscription`] and its position keeping; `subscribe::ws` and
//!   `subscribe::grpc` the two transports.
//! - `time`: timestamps as the service writes them.

mod api;
pub mod config;
pub mod error;
pub mod grpc;
pub mod model;
mod rest;
mod retry;
pub mod subscribe;
mod time;
mod tls;

use std::sync::Arc;

pub use config::{ClientBuilder, RetryPolicy, WsAuth};
pub use error::{ApiError, ClientError, FieldError};
pub use grpc::{proto, GrpcClient};
pub use model::*;
pub use rest::{new_idempotency_key, Answer, Call};
pub use subscribe::{Resync, ResyncRequired, SubscribeOptions, Subscription, Update};

/// A client of one orchestrator (or of a load balancer in front of several). Cheap to clone:
/// clones share the HTTP connection pool and the gRPC channel.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<config::Config>,
}

impl Client {
    /// A client of the orchestrator at `base_url` (`http://localhost:3000`) with the defaults:
    /// no API key, [`RetryPolicy::default`], gRPC on the same host at port 8001.
    ///
    /// # Errors
    /// [`ClientError::InvalidUrl`] when `base_url` is not an `http(s)://` URL.
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        Self::builder(base_url).build()
    }

    /// A builder for a client of the orchestrator at `base_url`.
    pub fn builder(base_url: &str) -> ClientBuilder {
        ClientBuilder::new(base_url)
    }

    /// The REST API's base URL.
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    fn config(&self) -> &config::Config {
        &self.inner
    }
}
