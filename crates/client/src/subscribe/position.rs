//! Where a subscription is: the last seq delivered and the store epoch it belongs to, and the
//! verdict on each arriving event (deliver, drop as a duplicate, or a gap).

/// The position to resume from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Position {
    /// The seq of the last event delivered (or the one the subscription started after).
    pub(crate) last: Option<u64>,
    /// The store epoch `last` belongs to, as the service told it.
    pub(crate) epoch: Option<String>,
}

/// What to do with an arriving event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The next one: deliver it.
    Deliver,
    /// Delivered already (a replay overlapping a reconnect): drop it.
    Duplicate,
    /// Past the next one: events are missing.
    Gap {
        /// The seq that should have come.
        expected: u64,
    },
}

impl Position {
    /// A position after `after_seq` in `epoch` (both optional: live from now).
    pub(crate) fn new(after_seq: Option<u64>, epoch: Option<String>) -> Self {
        Self {
            last: after_seq,
            epoch,
        }
    }

    pub(crate) fn judge(&self, seq: u64) -> Verdict {
        match self.last {
            None => Verdict::Deliver,
            Some(last) if seq <= last => Verdict::Duplicate,
            Some(last) if seq == last + 1 => Verdict::Deliver,
            Some(last) => Verdict::Gap { expected: last + 1 },
        }
    }

    pub(crate) fn delivered(&mut self, seq: u64) {
        self.last = Some(seq);
    }

    /// The service accepted a subscription after `after_seq` in `epoch`. A subscription
    /// without a position learns it here; one with a position keeps its own.
    pub(crate) fn subscribed(&mut self, after_seq: Option<u64>, epoch: Option<String>) {
        if self.last.is_none() {
            self.last = after_seq;
        }
        if epoch.is_some() {
            self.epoch = epoch;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_seq_is_delivered_older_ones_dropped_and_a_jump_is_a_gap() {
        let mut position = Position::new(Some(4), None);

        assert_eq!(position.judge(5), Verdict::Deliver);
        position.delivered(5);
        assert_eq!(position.judge(5), Verdict::Duplicate);
        assert_eq!(position.judge(2), Verdict::Duplicate);
        assert_eq!(position.judge(7), Verdict::Gap { expected: 6 });
        assert_eq!(position.judge(6), Verdict::Deliver);
    }

    #[test]
    fn a_live_subscription_learns_its_position_from_the_service() {
        let mut position = Position::default();
        assert_eq!(
            position.judge(9),
            Verdict::Deliver,
            "nothing to compare with yet"
        );

        position.subscribed(Some(8), Some("e1".into()));

        assert_eq!(position, Position::new(Some(8), Some("e1".into())));
        assert_eq!(position.judge(9), Verdict::Deliver);
    }

    #[test]
    fn a_resumed_subscription_keeps_its_own_position_and_takes_the_new_epoch() {
        let mut position = Position::new(Some(12), Some("e1".into()));

        position.subscribed(Some(3), Some("e2".into()));

        assert_eq!(position, Position::new(Some(12), Some("e2".into())));
        position.subscribed(Some(12), None);
        assert_eq!(
            position.epoch.as_deref(),
            Some("e2"),
            "an ack without epoch keeps it"
        );
    }
}
