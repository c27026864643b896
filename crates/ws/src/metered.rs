//! What the WebSocket transport reports at `/metrics` (through the `metrics` facade; the app
//! installs the recorder):
//!
//! - `orchestrator_ws_connections`: open WebSocket connections;
//! - `orchestrator_events_delivered_total{transport="ws"}`: events and audience updates sent;
//! - `orchestrator_slow_consumer_disconnects_total{transport="ws"}`: connections closed because
//!   their queue overflowed;
//! - `orchestrator_ws_protocol_errors_total{reason}`: connections closed because of what the
//!   client sent (one [`Refusal`] label each: bad input is counted here, not logged).
//!
//! The handles are looked up once per connection. Deliveries are counted in the connection and
//! added to the shared counter `FLUSH_EVERY` at a time, at each heartbeat and at close: two
//! atomic adds per delivery on a cache line every worker writes (the counter and its
//! generation) cost 1.5 % of the machine at 100,000 deliveries/s.

use metrics::{Counter, Gauge};

use crate::reader::Refusal;

const PROTOCOL_ERRORS: &str = "orchestrator_ws_protocol_errors_total";

/// Shows this transport's series from the start, at 0 (the app calls it once, when it
/// installs the recorder).
pub fn register() {
    metrics::gauge!("orchestrator_ws_connections").increment(0.0);
    metrics::counter!("orchestrator_events_delivered_total", "transport" => "ws").increment(0);
    metrics::counter!("orchestrator_slow_consumer_disconnects_total", "transport" => "ws")
        .increment(0);
    for refusal in Refusal::ALL {
        metrics::counter!(PROTOCOL_ERRORS, "reason" => refusal.label()).increment(0);
    }
}

/// A connection is closed because of what its client sent.
pub(crate) fn refused(refusal: Refusal) {
    metrics::counter!(PROTOCOL_ERRORS, "reason" => refusal.label()).increment(1);
}

/// Deliveries a connection counts before it adds them to the shared counter.
pub(crate) const FLUSH_EVERY: u64 = 64;

/// One connection's metrics: counted open while it lives.
pub(crate) struct ConnectionMetrics {
    open: Gauge,
    delivered: Counter,
    /// Delivered and not yet added to `delivered`.
    unflushed: u64,
    slow_consumers: Counter,
}

impl ConnectionMetrics {
    /// A connection that just opened.
    pub(crate) fn opened() -> Self {
        let open = metrics::gauge!("orchestrator_ws_connections");
        open.increment(1.0);
        Self {
            open,
            delivered: metrics::counter!("orchestrator_events_delivered_total", "transport" => "ws"),
            unflushed: 0,
            slow_consumers: metrics::counter!(
                "orchestrator_slow_consumer_disconnects_total",
                "transport" => "ws"
            ),
        }
    }

    /// `count` events (or audience updates) were sent.
    pub(crate) fn delivered(&mut self, count: u64) {
        self.unflushed += count;
        if self.unflushed >= FLUSH_EVERY {
            self.flush();
        }
    }

    /// Adds what was counted since the last flush to the shared counter.
    pub(crate) fn flush(&mut self) {
        if self.unflushed > 0 {
            self.delivered
                .increment(std::mem::take(&mut self.unflushed));
        }
    }

    /// The connection is closed as a slow consumer.
    pub(crate) fn slow_consumer(&self) {
        self.slow_consumers.increment(1);
    }
}

impl Drop for ConnectionMetrics {
    fn drop(&mut self) {
        self.flush();
        self.open.decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use metrics::{Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

    use super::*;

    /// Hands out one shared counter for deliveries and no-op handles for the rest.
    #[derive(Default)]
    struct DeliveriesRecorder(Arc<AtomicU64>);

    impl Recorder for DeliveriesRecorder {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            if key.name() == "orchestrator_events_delivered_total" {
                Counter::from_arc(self.0.clone())
            } else {
                Counter::noop()
            }
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    #[test]
    fn deliveries_reach_the_shared_counter_in_batches_and_every_one_of_them_at_close() {
        let recorder = DeliveriesRecorder::default();
        let shared = recorder.0.clone();
        let counted = || shared.load(Ordering::Relaxed);
        let mut metrics = metrics::with_local_recorder(&recorder, ConnectionMetrics::opened);

        for _ in 1..FLUSH_EVERY {
            metrics.delivered(1);
        }
        assert_eq!(counted(), 0, "fewer than a batch stay in the connection");
        metrics.delivered(1);
        assert_eq!(counted(), FLUSH_EVERY);

        metrics.delivered(5);
        metrics.flush();
        assert_eq!(
            counted(),
            FLUSH_EVERY + 5,
            "a heartbeat flushes what is counted"
        );

        metrics.delivered(2);
        drop(metrics);
        assert_eq!(counted(), FLUSH_EVERY + 7, "closing flushes the rest");
    }
}
