//! Spacing LiveKit calls to a configured rate.

use std::time::Duration;

use tokio::time::Instant;

/// Spaces calls at least `gap` apart.
pub(crate) struct Pacer {
    gap: Duration,
    next: Instant,
}

impl Pacer {
    pub(crate) fn new(calls_per_sec: u32) -> Self {
        Self {
            gap: Duration::from_secs(1) / calls_per_sec.max(1),
            next: Instant::now(),
        }
    }

    /// Waits until the next call may be made.
    pub(crate) async fn wait(&mut self) {
        tokio::time::sleep_until(self.next).await;
        self.next = Instant::now() + self.gap;
    }
}
