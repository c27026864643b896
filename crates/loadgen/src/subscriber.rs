//! What every fan-out subscriber does with an arriving event, whatever its transport: account
//! its seq, and time it from the event's own timestamp to now. The transports ([`crate::ws`],
//! [`crate::grpc`]) only connect, subscribe and feed [`Subscriber::receive`].

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{watch, Semaphore};

use crate::httpc::Endpoint;
use crate::seq::{Arrival, SeqTracker};

/// What a subscriber is asked to follow.
#[derive(Debug, Clone)]
pub struct Assignment {
    /// Where to connect (WebSocket: the HTTP endpoint; gRPC: the gRPC endpoint).
    pub endpoint: Endpoint,
    /// Index of the stream in the scenario.
    pub stream: usize,
    /// The stream's id.
    pub stream_id: String,
    /// Subscribe after this seq (the stream's seq before publishing).
    pub after_seq: u64,
    /// Group for split reports (cross-instance: 0 = instance A, 1 = instance B).
    pub group: usize,
}

/// Signals from the coordinator.
#[derive(Debug, Clone)]
pub struct Control {
    /// Limits how many subscribers connect at once.
    pub connect_permits: Arc<Semaphore>,
    /// Set once publishing ended: the final seq of every stream.
    pub final_seqs: watch::Receiver<Option<Arc<Vec<u64>>>>,
    /// Set when the drain time is over: stop whatever is missing.
    pub give_up: watch::Receiver<bool>,
}

impl Control {
    /// Resolves once the coordinator signals something new (final seqs known, or give up)
    /// since this call. Made once per signal, not once per message: each `changed()` future
    /// registers with a `Notify` every subscriber shares, and making two per message cost the
    /// harness 5 % of its CPU at 100,000 deliveries/s, CPU the measured server then lacked.
    pub fn signalled(&mut self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.final_seqs.borrow_and_update();
        self.give_up.borrow_and_update();
        let (mut final_seqs, mut give_up) = (self.final_seqs.clone(), self.give_up.clone());
        async move {
            let closed = tokio::select! {
                changed = final_seqs.changed() => changed.is_err(),
                changed = give_up.changed() => changed.is_err(),
            };
            if closed {
                // The coordinator is gone: nothing will ever be signalled again.
                std::future::pending::<()>().await;
            }
        }
    }

    /// What ends `assignment`'s subscription as of now. Read again after each signal, not
    /// for each message: every read takes a lock that all subscribers share.
    pub fn until(&self, assignment: &Assignment) -> Until {
        Until {
            gave_up: *self.give_up.borrow(),
            final_seq: self
                .final_seqs
                .borrow()
                .as_ref()
                .map(|finals| finals[assignment.stream]),
        }
    }
}

/// What ends a subscription: the coordinator gave up, or everything up to the stream's final
/// seq (once known) has arrived.
#[derive(Debug, Clone, Copy)]
pub struct Until {
    gave_up: bool,
    final_seq: Option<u64>,
}

impl Until {
    /// Whether `subscriber` should stop.
    pub fn reached(&self, subscriber: &Subscriber) -> bool {
        self.gave_up
            || self.final_seq.is_some_and(|final_seq| {
                // The highest seq first: a full check walks every seq.
                subscriber.tracker.highest() >= final_seq
                    && subscriber.tracker.complete_up_to(final_seq)
            })
    }
}

/// One subscription's record.
#[derive(Debug)]
pub struct Subscriber {
    /// What it followed.
    pub assignment: Assignment,
    /// Seqs received.
    pub tracker: SeqTracker,
    /// (seq, µs from the event timestamp) of each first arrival (histograms are made from
    /// them once at the end: one per subscriber cost the harness 190 KiB each and a cache miss
    /// per arrival).
    pub arrivals: Vec<(u64, u64)>,
    /// Whether the subscription was established.
    pub connected: bool,
    /// Why it ended early, if it did (`ws_connect`, `ws_closed`, `grpc_status_…`).
    pub error: Option<String>,
}

impl Subscriber {
    /// A subscriber that has received nothing yet.
    pub fn new(assignment: Assignment) -> Self {
        Self {
            tracker: SeqTracker::new(assignment.after_seq),
            assignment,
            arrivals: Vec::new(),
            connected: false,
            error: None,
        }
    }

    /// An event arrived now; `timestamp` is its RFC 3339 time (WebSocket events).
    pub fn receive(&mut self, seq: u64, timestamp: &str) {
        let sent_at = DateTime::parse_from_rfc3339(timestamp)
            .ok()
            .map(|at| at.with_timezone(&Utc));
        self.receive_sent_at(seq, sent_at);
    }

    /// An event arrived now; `millis` is its time in unix milliseconds (gRPC events).
    pub fn receive_millis(&mut self, seq: u64, millis: i64) {
        self.receive_sent_at(seq, DateTime::from_timestamp_millis(millis));
    }

    fn receive_sent_at(&mut self, seq: u64, sent_at: Option<DateTime<Utc>>) {
        if self.tracker.observe(seq) == Arrival::Duplicate {
            return;
        }
        let micros = sent_at.map_or(0, |at| micros_between(at, Utc::now()));
        self.arrivals.push((seq, micros));
    }

    /// Records a failure that ended the subscription.
    pub fn fail(&mut self, kind: impl Into<String>) {
        self.error.get_or_insert_with(|| kind.into());
    }
}

/// Microseconds from an RFC 3339 timestamp to `now` (0 if unparsable or in the future: the
/// clocks are the same machine's, so a negative value is rounding).
pub fn micros_since(timestamp: &str, now: DateTime<Utc>) -> u64 {
    DateTime::parse_from_rfc3339(timestamp)
        .ok()
        .map_or(0, |at| micros_between(at.with_timezone(&Utc), now))
}

fn micros_between(at: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    (now - at)
        .num_microseconds()
        .and_then(|micros| u64::try_from(micros).ok())
        .unwrap_or(0)
}

/// How long a subscriber may take to connect and subscribe.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment() -> Assignment {
        Assignment {
            endpoint: Endpoint::loopback(1),
            stream: 0,
            stream_id: "s".into(),
            after_seq: 1,
            group: 0,
        }
    }

    #[test]
    fn latency_is_measured_from_the_event_timestamp() {
        let now = DateTime::parse_from_rfc3339("2025-01-01T00:00:00.250Z")
            .unwrap()
            .with_timezone(&Utc);

        assert_eq!(micros_since("2025-01-01T00:00:00.200Z", now), 50_000);
        assert_eq!(micros_since("2025-01-01T00:00:00.200123456Z", now), 49_876);
        assert_eq!(micros_since("2025-01-01T00:00:01Z", now), 0, "future: 0");
        assert_eq!(micros_since("yesterday", now), 0);
    }

    #[test]
    fn a_duplicate_is_counted_but_not_timed_twice() {
        let mut subscriber = Subscriber::new(assignment());

        subscriber.receive(2, "2025-01-01T00:00:00Z");
        subscriber.receive(2, "2025-01-01T00:00:00Z");

        assert_eq!(subscriber.arrivals.len(), 1);
        assert_eq!(subscriber.tracker.counts(2).duplicated, 1);
    }

    #[tokio::test]
    async fn the_signal_fires_once_per_change_made_after_it_was_taken() {
        let (finals, final_seqs) = watch::channel(None);
        let (give_up_tx, give_up) = watch::channel(false);
        finals.send(Some(Arc::new(vec![1]))).unwrap();
        let mut control = Control {
            connect_permits: Arc::new(Semaphore::new(1)),
            final_seqs,
            give_up,
        };
        let wait = Duration::from_millis(50);

        let stale = control.signalled();
        assert!(
            tokio::time::timeout(wait, stale).await.is_err(),
            "a change made before the signal was taken does not fire it"
        );

        let signalled = control.signalled();
        give_up_tx.send(true).unwrap();
        assert!(tokio::time::timeout(wait, signalled).await.is_ok());
        let subscriber = Subscriber::new(assignment());
        assert!(control.until(&subscriber.assignment).reached(&subscriber));
    }

    #[tokio::test]
    async fn a_subscriber_is_complete_once_it_has_the_final_seq() {
        let (finals, final_seqs) = watch::channel(None);
        let (_give_up_tx, give_up) = watch::channel(false);
        let control = Control {
            connect_permits: Arc::new(Semaphore::new(1)),
            final_seqs,
            give_up,
        };
        let mut subscriber = Subscriber::new(assignment());
        subscriber.receive(2, "2025-01-01T00:00:00Z");
        let reached = |s: &Subscriber| control.until(&s.assignment).reached(s);
        assert!(!reached(&subscriber), "final seq unknown yet");

        finals.send(Some(Arc::new(vec![4]))).unwrap();
        assert!(!reached(&subscriber));

        subscriber.receive(4, "2025-01-01T00:00:00Z");
        assert!(!reached(&subscriber), "3 is still missing");

        subscriber.receive(3, "2025-01-01T00:00:00Z");
        assert!(reached(&subscriber));
    }
}
