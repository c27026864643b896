//! Following a stream's events: a [`Subscription`] is a `Stream` of [`Update`]s in seq order
//! that survives lost connections.
//!
//! On a lost connection (the server shutting down or restarting, a slow-consumer close, a
//! reset, a socket silent past [`SubscribeOptions::idle_timeout`]) it reconnects with backoff
//! ([`SubscribeOptions::reconnect`]) and subscribes again after the last seq it delivered, with
//! the store epoch the service gave it. The service replays what was missed; anything at or
//! before the last seq is dropped, so across reconnects no event is lost or repeated. A seq
//! past the next one breaks the service's promise: it is surfaced as [`ClientError::Gap`] and
//! the subscription ends.
//!
//! The subscription ends (`None`) after `stream_stopped`, and with an `Err` when it cannot go
//! on: the stream does not exist, the key is refused, or reconnecting failed
//! [`RetryPolicy::max_attempts`] times in a row ([`ClientError::GaveUp`]).
//!
//! **Resync.** When the position cannot be resumed (the event log no longer holds it, or the
//! store lost its data: another epoch), the service says `resync_required`. The subscription
//! yields [`Update::ResyncRequired`]; then, by [`Resync`]:
//! - [`Resync::End`] (the default) ends it: the caller decides how to rebuild its view;
//! - [`Resync::FromState`] reads `GET /streams/{id}/state`, hands it over in the update
//!   ([`ResyncRequired::state`]) and goes on after its seq: events before it are not
//!   delivered, the state accounts for them.

mod follow;
mod grpc;
mod position;
mod ws;

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;

use crate::{proto, Client, ClientError, Event, RetryPolicy, StreamState};

/// What happens after `resync_required` (see the [module docs](self)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Resync {
    /// The subscription ends after the [`Update::ResyncRequired`].
    #[default]
    End,
    /// The subscription reads the stream's state, hands it over, and follows on from its seq.
    FromState,
}

/// Where a subscription starts and how it copes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// Deliver the events after this seq first (0: the whole log the service keeps); `None`:
    /// only new events.
    pub after_seq: Option<u64>,
    /// The store epoch `after_seq` belongs to (from an earlier subscription or gRPC's
    /// `GetStreamState`); `None` skips the check.
    pub epoch: Option<String>,
    /// What happens after `resync_required`.
    pub resync: Resync,
    /// Reconnect attempts in a row and their backoff (10 attempts, 200 ms doubling up to 5 s,
    /// within a minute of the loss).
    pub reconnect: RetryPolicy,
    /// A WebSocket silent this long is taken as lost (the service pings every 15 s by
    /// default); gRPC relies on HTTP/2 keep-alive pings instead.
    pub idle_timeout: Duration,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        Self {
            after_seq: None,
            epoch: None,
            resync: Resync::End,
            reconnect: RetryPolicy {
                max_attempts: 10,
                initial_backoff: Duration::from_millis(200),
                max_backoff: Duration::from_secs(5),
                max_elapsed: Duration::from_secs(60),
            },
            idle_timeout: Duration::from_secs(45),
        }
    }
}

impl SubscribeOptions {
    /// Everything after `seq` first, then live.
    pub fn after(seq: u64) -> Self {
        Self {
            after_seq: Some(seq),
            ..Self::default()
        }
    }

    /// With this resync behaviour.
    #[must_use]
    pub fn on_resync(mut self, resync: Resync) -> Self {
        self.resync = resync;
        self
    }
}

/// One item of a subscription.
#[derive(Debug, Clone, PartialEq)]
pub enum Update<E> {
    /// The next event (seq = the previous one's + 1).
    Event(E),
    /// The position could not be resumed (see [`Resync`]).
    ResyncRequired(Box<ResyncRequired>),
}

/// The service could not resume the position.
#[derive(Debug, Clone, PartialEq)]
pub struct ResyncRequired {
    /// The stream.
    pub stream_id: String,
    /// The position that could not be resumed, when the service said.
    pub after_seq: Option<u64>,
    /// The service's explanation.
    pub message: String,
    /// With [`Resync::FromState`]: the stream's state, whose seq the subscription follows on
    /// from.
    pub state: Option<StreamState>,
}

/// Counters a subscription keeps as it goes.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    reconnects: AtomicU64,
    /// The last seq delivered, plus one (0: none yet).
    last_seq: AtomicU64,
}

impl Progress {
    pub(crate) fn reconnected(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn delivered(&self, seq: u64) {
        self.last_seq
            .store(seq.saturating_add(1), Ordering::Relaxed);
    }
}

/// A stream's events, resumed across reconnects; see the [module docs](self).
#[must_use = "a subscription does nothing until polled"]
pub struct Subscription<E> {
    inner: Pin<Box<dyn Stream<Item = Result<Update<E>, ClientError>> + Send>>,
    progress: Arc<Progress>,
}

impl<E> std::fmt::Debug for Subscription<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("reconnects", &self.reconnects())
            .field("last_seq", &self.last_seq())
            .finish_non_exhaustive()
    }
}

impl<E> Subscription<E> {
    /// How many times it connected again after losing a connection.
    pub fn reconnects(&self) -> u64 {
        self.progress.reconnects.load(Ordering::Relaxed)
    }

    /// The seq of the last event delivered.
    pub fn last_seq(&self) -> Option<u64> {
        self.progress
            .last_seq
            .load(Ordering::Relaxed)
            .checked_sub(1)
    }
}

impl<E> Stream for Subscription<E> {
    type Item = Result<Update<E>, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl Client {
    /// Follows `stream_id`'s new events over the WebSocket (see [`Subscription`]).
    pub fn subscribe(&self, stream_id: &str) -> Subscription<Event> {
        self.subscribe_with(stream_id, SubscribeOptions::default())
    }

    /// Follows `stream_id`'s events over the WebSocket, from where `options` says.
    pub fn subscribe_with(
        &self,
        stream_id: &str,
        options: SubscribeOptions,
    ) -> Subscription<Event> {
        let connector = ws::Connector::new(self, stream_id, options.idle_timeout);
        follow::subscription(self, stream_id, options, Box::new(connector))
    }

    /// Follows `stream_id`'s events over gRPC `Subscribe`, from where `options` says. Events
    /// come as the proto's [`StreamEvent`](proto::StreamEvent); without a position the
    /// subscription starts from `GetStreamState`'s seq and epoch.
    pub fn subscribe_grpc(
        &self,
        stream_id: &str,
        options: SubscribeOptions,
    ) -> Subscription<proto::StreamEvent> {
        let connector = grpc::Connector::new(self, stream_id);
        follow::subscription(self, stream_id, options, Box::new(connector))
    }
}
