//! The readiness checks behind `/health/ready` and gRPC health: every
//! `http.readiness_check_interval_ms`, LiveKit is probed (one cheap call, so a load
//! balancer's probe rate never reaches LiveKit) and the store is pinged (for gRPC health; the
//! HTTP probe pings it itself), and the results are written to the instance's
//! [`Readiness`]. Changes are logged once, not on every check, and exported as the
//! `orchestrator_ready` gauge.

use std::sync::Arc;
use std::time::Duration;

use orchestrator_domain::policy::readiness::{Check, Readiness};
use orchestrator_domain::ports::MediaServer;
use orchestrator_domain::service::StreamService;
use tokio_util::sync::CancellationToken;

/// What the checks need.
#[derive(Clone)]
pub(crate) struct Checks {
    pub(crate) readiness: Readiness,
    pub(crate) service: StreamService,
    pub(crate) media: Arc<dyn MediaServer>,
}

impl Checks {
    /// Checks both dependencies once and records the results.
    pub(crate) async fn run_once(&self) {
        let (store, media) = tokio::join!(self.service.ready(), self.media.reachable());
        let before = self.readiness.report();
        self.readiness.set_store(Check::of(&store));
        self.readiness.set_media(Check::of(&media));
        let after = self.readiness.report();
        publish(&self.readiness);
        if before.blocker() != after.blocker() {
            if after.is_ready() {
                tracing::info!("ready: the store and LiveKit answer");
            } else {
                tracing::warn!(why = %after.details(), "not ready");
            }
        }
    }

    /// Checks every `every` until `stop`.
    pub(crate) async fn run(self, every: Duration, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(every.max(Duration::from_millis(10)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => self.run_once().await,
            }
        }
    }
}

/// Exports the readiness as the `orchestrator_ready` gauge.
pub(crate) fn publish(readiness: &Readiness) {
    let ready = readiness.report().is_ready();
    metrics::gauge!("orchestrator_ready").set(if ready { 1.0 } else { 0.0 });
}
