//! Folding viewers' joins and leaves into audience updates.
//!
//! A dashboard watching a stream with 100,000 viewers cannot take one message per viewer. A
//! subscription may therefore ask for an [`AudienceInterval`]: viewers' `participant_joined` and
//! `participant_left` events are then *folded* (the subscriber's position moves over them) into
//! at most one audience update per interval, carrying the latest [`Audience`] counters and the
//! seq of the last event it accounts for. Every other event still arrives one by one, in seq
//! order. One that carries the counters itself (participant events do) makes a pending update
//! redundant; one that does not (stream events) is preceded by the pending update, so that
//! whatever the client saw last is a seq it can resume from without missing anything.
//!
//! The channel classifies each event and encodes its update once for all its coalescing
//! members ([`Fold`]); each subscriber only keeps the newest update per stream ([`Coalescer`]).

use std::time::Duration;

use orchestrator_domain::{audience::Audience, event::EventType, event::StreamEvent};
use serde::Deserialize;
use tokio::time::Instant;

/// The audience counters `event` carries (`data.audience` of participant events), if it
/// carries well-formed ones.
pub fn audience_of(event: &StreamEvent) -> Option<Audience> {
    Audience::deserialize(event.data.get("audience")?).ok()
}

/// How often, at most, a subscription receives an audience update instead of viewers' events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudienceInterval(u64);

impl AudienceInterval {
    /// The shortest interval accepted, in milliseconds.
    pub const MIN_MS: u64 = 50;
    /// The longest interval accepted, in milliseconds.
    pub const MAX_MS: u64 = 60_000;

    /// An interval of `millis` milliseconds.
    ///
    /// # Errors
    /// [`InvalidAudienceInterval`] outside [`Self::MIN_MS`]`..=`[`Self::MAX_MS`].
    pub fn from_millis(millis: u64) -> Result<Self, InvalidAudienceInterval> {
        if (Self::MIN_MS..=Self::MAX_MS).contains(&millis) {
            Ok(Self(millis))
        } else {
            Err(InvalidAudienceInterval(millis))
        }
    }

    /// The interval in milliseconds.
    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// The interval.
    pub fn as_duration(self) -> Duration {
        Duration::from_millis(self.0)
    }
}

/// An audience interval outside the accepted range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the audience interval must be {min}..={max} ms, got {0}",
    min = AudienceInterval::MIN_MS,
    max = AudienceInterval::MAX_MS
)]
pub struct InvalidAudienceInterval(pub u64);

/// What a coalescing subscriber does with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// A viewer joined or left: folded into the next audience update.
    Viewer,
    /// Delivered on its own, carrying the counters after it.
    Counted,
    /// Delivered on its own, without counters.
    Plain,
}

pub(crate) fn classify(event: &StreamEvent) -> Class {
    // Only joins and leaves are folded: any other kind, today's or a later one, is delivered
    // on its own.
    let participant_event = matches!(
        event.kind,
        EventType::ParticipantJoined | EventType::ParticipantLeft
    );
    let role = event.data.pointer("/participant/role");
    if participant_event && role.and_then(serde_json::Value::as_str) == Some("viewer") {
        Class::Viewer
    } else if event
        .data
        .get("audience")
        .is_some_and(serde_json::Value::is_object)
    {
        Class::Counted
    } else {
        Class::Plain
    }
}

/// An event's [`Class`] as the channel hands it to its members, with the audience update a
/// viewer's event folds into, encoded once per channel.
#[derive(Debug, Clone)]
pub(crate) enum Fold<F> {
    Viewer(F),
    Counted,
    /// Also what every event is when no member of the channel coalesces.
    Plain,
}

impl<F> Fold<F> {
    pub(crate) fn of(class: Class, update: impl FnOnce() -> F) -> Self {
        match class {
            Class::Viewer => Self::Viewer(update()),
            Class::Counted => Self::Counted,
            Class::Plain => Self::Plain,
        }
    }
}

/// The newest audience update a subscriber has not sent yet for one stream.
#[derive(Debug)]
struct Pending<F> {
    seq: u64,
    frame: F,
    /// The seq handed out before the first event this update folds: where to resume from
    /// while it has not gone out.
    shown: u64,
}

/// One coalescing subscription's state for one stream.
#[derive(Debug)]
pub(crate) struct Coalescer<F> {
    interval: Duration,
    /// No update goes out before this (one interval after the previous one).
    quiet_until: Option<Instant>,
    pending: Option<Pending<F>>,
}

impl<F> Coalescer<F> {
    pub(crate) fn new(interval: AudienceInterval) -> Self {
        Self {
            interval: interval.as_duration(),
            quiet_until: None,
            pending: None,
        }
    }

    /// Folds the event at `seq` into `update`; `shown` is the seq handed out before it.
    pub(crate) fn fold(&mut self, seq: u64, update: F, shown: u64) {
        let shown = self.pending.as_ref().map_or(shown, |pending| pending.shown);
        self.pending = Some(Pending {
            seq,
            frame: update,
            shown,
        });
    }

    /// An event carrying the counters is handed out: the pending update says nothing more.
    pub(crate) fn supersede(&mut self) {
        self.pending = None;
    }

    /// When the pending update may go out (`None`: nothing pending).
    pub(crate) fn due(&self, now: Instant) -> Option<Instant> {
        self.pending.as_ref()?;
        Some(self.quiet_until.unwrap_or(now))
    }

    /// The pending update, if its interval has passed.
    pub(crate) fn take_due(&mut self, now: Instant) -> Option<(u64, F)> {
        if self
            .quiet_until
            .is_some_and(|quiet_until| now < quiet_until)
        {
            return None;
        }
        self.flush(now)
    }

    /// The pending update, now, whatever the interval (an event without counters follows, or
    /// the subscription ends).
    pub(crate) fn flush(&mut self, now: Instant) -> Option<(u64, F)> {
        let pending = self.pending.take()?;
        self.quiet_until = Some(now + self.interval);
        Some((pending.seq, pending.frame))
    }

    /// The last seq handed out, while an update is pending.
    pub(crate) fn shown(&self) -> Option<u64> {
        self.pending.as_ref().map(|pending| pending.shown)
    }
}
