//! What the WebSocket transport reports at `/metrics` (through the `metrics` facade; the app
//! installs the recorder):
//!
//! - `orchestrator_ws_connections`: open WebSocket connections;
//! - `orchestrator_events_delivered_total{transport="ws"}`: events and audience updates sent;
//! - `orchestrator_slow_consumer_disconnects_total{transport="ws"}`: connections closed because
//!   their queue overflowed.
//!
//! The handles are looked up once per connection, so counting a delivery is one atomic add.

use metrics::{Counter, Gauge};

/// One connection's metrics: counted open while it lives.
pub(crate) struct ConnectionMetrics {
    open: Gauge,
    delivered: Counter,
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
            slow_consumers: metrics::counter!(
                "orchestrator_slow_consumer_disconnects_total",
                "transport" => "ws"
            ),
        }
    }

    /// `count` events (or audience updates) were sent.
    pub(crate) fn delivered(&self, count: u64) {
        self.delivered.increment(count);
    }

    /// The connection is closed as a slow consumer.
    pub(crate) fn slow_consumer(&self) {
        self.slow_consumers.increment(1);
    }
}

impl Drop for ConnectionMetrics {
    fn drop(&mut self) {
        self.open.decrement(1.0);
    }
}
