//! Live event fan-out shared by the WebSocket and gRPC transports.
//!
//! A [`Hub`] holds the instance's one subscription to the [`EventLog`](orchestrator_domain::ports::EventLog) feed and one *channel*
//! per stream that somebody watches. Each channel follows its stream with
//! [`orchestrator_domain::follow::follow`] (so it is gapless even though the feed is at most once),
//! encodes every event **once** with the transport's [`Codec`], and hands a clone of the
//! encoded frame to each subscriber's bounded queue with `try_send`. A full queue never blocks
//! the channel: that subscriber is cut off ([`Next::Overflow`]) and the others carry on.
//!
//! A [`Subscriber`] is one client connection (many streams). It replays what the client missed
//! from the event log (`after_seq`), then passes the channel's live frames through, dropping
//! what it already delivered and filling the seam between replay and live from the log, so the
//! client sees every seq exactly once. When the log no longer holds a position it answers
//! [`Next::ResyncRequired`] instead of skipping.
//!
//! A subscription with an [`AudienceInterval`] gets viewers' joins and leaves folded into at
//! most one [`Next::Audience`] update per interval (see the `audience` module): the channel
//! classifies each event and encodes its update once, and only while one of its members
//! coalesces.
//!
//! # Layout
//!
//! - [`Codec`]: how a transport turns a [`StreamEvent`] (or an audience update) into its frame.
//! - `hub`: [`Hub`], [`HubConfig`], the dispatcher and the per-stream channels.
//! - `subscriber`: [`Subscriber`], [`Subscription`], [`Next`], [`SubscribeError`],
//!   [`Subscribed`]: one client's view; [`Subscriber::follow`] reads a stream, then subscribes
//!   from it ([`Following`], [`FollowError`]), for every transport.
//! - `audience`: [`AudienceInterval`], classifying events and folding viewers'.

use std::sync::{Mutex, MutexGuard, PoisonError};

use orchestrator_domain::event::StreamEvent;

mod audience;
mod hub;
mod subscriber;

pub use audience::{audience_of, AudienceInterval, InvalidAudienceInterval};
pub use hub::{Hub, HubConfig};
pub use orchestrator_domain::audience::Audience;
pub use subscriber::{
    FollowError, Following, Next, SubscribeError, Subscribed, Subscriber, Subscription,
};

/// Turns an event into a transport's wire frame. Called once per event per hub, never per
/// subscriber, so `Frame` should be cheap to clone (`Bytes`, `Arc<…>`).
pub trait Codec: Send + Sync + 'static {
    /// The encoded event.
    type Frame: Clone + Send + Sync + 'static;

    /// Encodes `event`.
    fn encode(&self, event: &StreamEvent) -> Self::Frame;

    /// Encodes the audience update that stands for the viewers' events folded up to `last`
    /// (the last of them): its stream, `seq` and timestamp are the update's; `audience` are
    /// the counters after it (`None` when the event carries none). Called once per viewer
    /// event per hub, and only while some subscriber of its stream coalesces.
    fn encode_audience(&self, last: &StreamEvent, audience: Option<&Audience>) -> Self::Frame;
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing here can leave the maps half-updated on a panic, so a poisoned lock is usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
