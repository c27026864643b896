//! Delivery accounting for the fan-out scenarios: which seqs a subscriber got (lost, duplicated,
//! out of order) and, across the subscribers of a stream, when each event reached the first and
//! the last of them.

use serde::Serialize;

use crate::stats::Latencies;

/// What one subscriber received on one stream, by seq.
///
/// Every seq after `after_seq` is expected exactly once and in order. A seq at or below
/// `after_seq`, or one seen before, is a duplicate; a new seq below the highest seen so far is
/// out of order; a seq up to the stream's final seq that never came is lost.
#[derive(Debug, Clone)]
pub struct SeqTracker {
    after_seq: u64,
    seen: Vec<bool>,
    highest: u64,
    duplicates: u64,
    out_of_order: u64,
}

/// How [`SeqTracker::observe`] classified a seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The next seq, or a later one (earlier ones may yet be lost).
    InOrder,
    /// A seq not seen before but below the highest seen.
    OutOfOrder,
    /// Seen before, or at or below the subscription's start.
    Duplicate,
}

impl SeqTracker {
    /// Expects every seq after `after_seq`.
    pub fn new(after_seq: u64) -> Self {
        Self {
            after_seq,
            seen: Vec::new(),
            highest: after_seq,
            duplicates: 0,
            out_of_order: 0,
        }
    }

    /// Records the arrival of `seq`.
    pub fn observe(&mut self, seq: u64) -> Arrival {
        if seq <= self.after_seq {
            self.duplicates += 1;
            return Arrival::Duplicate;
        }
        let index = usize::try_from(seq - self.after_seq - 1).unwrap_or(usize::MAX);
        if index >= self.seen.len() {
            self.seen.resize(index.saturating_add(1), false);
        }
        if self.seen[index] {
            self.duplicates += 1;
            return Arrival::Duplicate;
        }
        self.seen[index] = true;
        if seq < self.highest {
            self.out_of_order += 1;
            return Arrival::OutOfOrder;
        }
        self.highest = seq;
        Arrival::InOrder
    }

    /// The highest seq received (the subscription's start when nothing came).
    pub fn highest(&self) -> u64 {
        self.highest
    }

    /// Whether every seq up to `final_seq` has arrived.
    pub fn complete_up_to(&self, final_seq: u64) -> bool {
        self.counts(final_seq).lost == 0
    }

    /// The tally once the stream's last seq is known to be `final_seq`.
    pub fn counts(&self, final_seq: u64) -> SeqCounts {
        let expected = final_seq.saturating_sub(self.after_seq);
        let wanted = usize::try_from(expected).unwrap_or(usize::MAX);
        let distinct = self.seen.iter().take(wanted).filter(|seen| **seen).count() as u64;
        SeqCounts {
            expected,
            received: self.seen.iter().filter(|seen| **seen).count() as u64,
            lost: expected - distinct,
            duplicated: self.duplicates,
            out_of_order: self.out_of_order,
        }
    }
}

/// Delivery tally of one or more subscriptions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SeqCounts {
    /// Events that should have arrived.
    pub expected: u64,
    /// Distinct events that arrived.
    pub received: u64,
    /// Expected events that never arrived.
    pub lost: u64,
    /// Arrivals of an event already received.
    pub duplicated: u64,
    /// Events that arrived after a later one.
    pub out_of_order: u64,
}

impl SeqCounts {
    /// Adds `other` to this tally.
    pub fn add(&mut self, other: &SeqCounts) {
        self.expected += other.expected;
        self.received += other.received;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.out_of_order += other.out_of_order;
    }

    /// No event lost, duplicated or reordered.
    pub fn is_clean(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.out_of_order == 0
    }
}

/// Per event of one stream: the latency to its first and to its last subscriber.
#[derive(Debug, Clone)]
pub struct DeliveryBook {
    after_seq: u64,
    subscribers: u32,
    first: Vec<u64>,
    last: Vec<u64>,
    receivers: Vec<u32>,
}

impl DeliveryBook {
    /// A book for `subscribers` subscriptions that all started after `after_seq`.
    pub fn new(after_seq: u64, subscribers: u32) -> Self {
        Self {
            after_seq,
            subscribers,
            first: Vec::new(),
            last: Vec::new(),
            receivers: Vec::new(),
        }
    }

    /// One subscriber received `seq` `micros` after the event's timestamp (first arrivals only).
    pub fn record(&mut self, seq: u64, micros: u64) {
        let Some(index) = seq
            .checked_sub(self.after_seq + 1)
            .and_then(|i| usize::try_from(i).ok())
        else {
            return;
        };
        if index >= self.first.len() {
            self.first.resize(index + 1, u64::MAX);
            self.last.resize(index + 1, 0);
            self.receivers.resize(index + 1, 0);
        }
        self.first[index] = self.first[index].min(micros);
        self.last[index] = self.last[index].max(micros);
        self.receivers[index] += 1;
    }

    /// Adds the first-subscriber latency of every event to `first`, and the last-subscriber
    /// latency of every event that reached all subscribers to `last`.
    pub fn summarise_into(&self, first: &mut Latencies, last: &mut Latencies) {
        for (index, receivers) in self.receivers.iter().enumerate() {
            if *receivers == 0 {
                continue;
            }
            first.record_micros(self.first[index]);
            if *receivers >= self.subscribers {
                last.record_micros(self.last[index]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker_after(after_seq: u64, arrivals: &[u64]) -> SeqTracker {
        let mut tracker = SeqTracker::new(after_seq);
        for seq in arrivals {
            tracker.observe(*seq);
        }
        tracker
    }

    #[test]
    fn a_gapless_run_is_clean() {
        let tracker = tracker_after(3, &[4, 5, 6, 7]);

        let counts = tracker.counts(7);

        assert_eq!(
            counts,
            SeqCounts {
                expected: 4,
                received: 4,
                lost: 0,
                duplicated: 0,
                out_of_order: 0
            }
        );
        assert!(counts.is_clean());
        assert_eq!(tracker.highest(), 7);
    }

    #[test]
    fn a_missing_seq_is_lost() {
        let counts = tracker_after(0, &[1, 2, 4, 5]).counts(5);

        assert_eq!(counts.lost, 1);
        assert_eq!(counts.out_of_order, 0);
        assert!(!counts.is_clean());
    }

    #[test]
    fn events_after_the_last_arrival_are_lost_too() {
        let tracker = tracker_after(0, &[1, 2]);

        assert_eq!(tracker.counts(5).lost, 3);
        assert!(!tracker.complete_up_to(5));
        assert!(tracker.complete_up_to(2));
    }

    #[test]
    fn a_repeated_seq_is_a_duplicate_not_a_second_delivery() {
        let mut tracker = SeqTracker::new(0);
        assert_eq!(tracker.observe(1), Arrival::InOrder);
        assert_eq!(tracker.observe(2), Arrival::InOrder);
        assert_eq!(tracker.observe(2), Arrival::Duplicate);

        let counts = tracker.counts(2);

        assert_eq!(counts.duplicated, 1);
        assert_eq!(counts.received, 2);
        assert_eq!(counts.lost, 0);
    }

    #[test]
    fn a_seq_at_or_before_the_start_is_a_duplicate() {
        let mut tracker = SeqTracker::new(10);

        assert_eq!(tracker.observe(10), Arrival::Duplicate);
        assert_eq!(tracker.observe(3), Arrival::Duplicate);
        assert_eq!(tracker.counts(10).duplicated, 2);
    }

    #[test]
    fn a_late_arrival_is_out_of_order_but_not_lost() {
        let mut tracker = SeqTracker::new(0);
        tracker.observe(1);
        tracker.observe(3);
        assert_eq!(tracker.observe(2), Arrival::OutOfOrder);

        let counts = tracker.counts(3);

        assert_eq!(counts.out_of_order, 1);
        assert_eq!(counts.lost, 0);
        assert_eq!(counts.received, 3);
    }

    #[test]
    fn tallies_add_up() {
        let mut total = SeqCounts::default();
        total.add(&tracker_after(0, &[1, 3]).counts(3));
        total.add(&tracker_after(0, &[1, 1, 2, 3]).counts(3));

        assert_eq!(total.expected, 6);
        assert_eq!(total.received, 5);
        assert_eq!(total.lost, 1);
        assert_eq!(total.duplicated, 1);
    }

    #[test]
    fn the_book_keeps_the_fastest_and_the_slowest_subscriber_per_event() {
        let mut book = DeliveryBook::new(5, 2);
        book.record(6, 1_000);
        book.record(6, 3_000);
        book.record(7, 2_000); // only one of the two subscribers got seq 7
        book.record(5, 9_000); // before the start: ignored

        let (mut first, mut last) = (Latencies::new(), Latencies::new());
        book.summarise_into(&mut first, &mut last);

        assert_eq!(first.count(), 2);
        assert_eq!(last.count(), 1, "seq 7 did not reach every subscriber");
        assert!((first.summary().p50 - 1.0).abs() < 0.01);
        assert!((last.summary().max - 3.0).abs() < 0.01);
    }
}
