//! The reconciler: heals what lost LiveKit webhooks left wrong. LiveKit drops webhooks when its
//! queue is long, so every interval, on exactly one instance (the holder of the `reconciler`
//! lease), a pass compares the live streams with LiveKit's rooms and records the missing
//! changes through [`StreamService::reconcile_stream`], as the webhooks would have.
//!
//! A pass scales with the number of live streams, not with their audiences, and keeps its
//! lease however long it runs:
//! - one `ListRooms` gives every room with its participant count; streams are read a page at a
//!   time (counters included, no participant records);
//! - a room whose participant count equals the stream's `connected` counter shows no drift and
//!   costs no LiveKit call; only the others get a `ListParticipants` call, paced to
//!   `livekit_calls_per_sec` — including rooms missing from the listing, which are stopped only
//!   once LiveKit confirms they are gone (a stream created after the listing is not);
//! - the lease is renewed as the pass goes, and each write first checks the lease's fencing
//!   token, so an instance that lost it (a long pause) stops writing;
//! - [`Reconciler::run`] stops a pass in the middle when asked to shut down (every write is one
//!   atomic step, so nothing is left half-done) and releases the lease for a successor.
//!
//! - streams left `stopping` (the stop's LiveKit call failed, or its instance died) are
//!   stopped: the room deleted, the stream `stopped`, as the stop that was asked for would have.
//! - each live stream's broadcast is compared with LiveKit's egresses and ingresses of its room
//!   (listed only when an output runs or an ingest exists): an egress LiveKit no longer lists,
//!   a start or a retry whose instance stopped, an ingress deleted behind our back are healed
//!   through [`StreamService::reconcile_broadcast`].
//!
//! Drift a count cannot show (one session lost and another gained in the same room) waits for
//! the webhooks of the next change in that room.
//!
//! # Layout
//!
//! - [`Reconciler`], [`ReconcilerConfig`], [`Report`], [`ReconcileError`]: the use case.
//! - `pass`: one pass over the live streams.
//! - `lease`: keeping the lease during a pass; `pacer`: spacing LiveKit calls.
//! - `metered`: passes, progress, repairs, lease changes and lag, for `/metrics`.

mod lease;
pub mod metered;
mod pacer;
mod pass;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orchestrator_domain::broadcast::BroadcastMedia;
use orchestrator_domain::coordination::LeaseStore;
use orchestrator_domain::ports::MediaServer;
use orchestrator_domain::{error::StreamError, service::StreamService};

/// The lease only one instance holds.
const LEASE: &str = "reconciler";

/// How the reconciler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcilerConfig {
    /// Pause between passes.
    pub interval: Duration,
    /// Most LiveKit calls per second.
    pub livekit_calls_per_sec: u32,
}

impl ReconcilerConfig {
    /// How long the lease lasts unless renewed: long enough to survive a slow store round trip,
    /// short enough that a successor takes over soon after a holder dies.
    pub fn lease_ttl(&self) -> Duration {
        (self.interval * 3).max(Duration::from_secs(15))
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Live streams compared with LiveKit.
    pub streams_checked: usize,
    /// Rooms whose participants were listed (their count showed drift).
    pub rooms_listed: usize,
    /// Events recorded to heal drift.
    pub events: usize,
    /// Streams left `stopping` whose stop was finished.
    pub stops_finished: usize,
}

/// Why a pass stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The store or LiveKit failed; the next pass retries.
    #[error(transparent)]
    Service(#[from] StreamError),
    /// Another instance took the lease during the pass.
    #[error("lost the reconciler lease")]
    LostLease,
}

/// Compares streams with LiveKit and heals the difference.
#[derive(Clone)]
pub struct Reconciler {
    service: StreamService,
    media: Arc<dyn MediaServer>,
    broadcast: Arc<dyn BroadcastMedia>,
    leases: Arc<dyn LeaseStore>,
    holder: String,
    config: ReconcilerConfig,
    tracker: Arc<metered::Tracker>,
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("holder", &self.holder)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Reconciler {
    /// A reconciler for this instance (`holder` names it in the lease).
    pub fn new(
        service: StreamService,
        media: Arc<dyn MediaServer>,
        broadcast: Arc<dyn BroadcastMedia>,
        leases: Arc<dyn LeaseStore>,
        holder: impl Into<String>,
        config: ReconcilerConfig,
    ) -> Self {
        Self {
            service,
            media,
            broadcast,
            leases,
            holder: holder.into(),
            config,
            tracker: Arc::default(),
        }
    }

    /// One pass, if this instance holds (or can take) the lease; `None` otherwise.
    ///
    /// # Errors
    /// [`ReconcileError`]; nothing half-done is left behind, the next pass retries.
    pub async fn run_once(&self) -> Result<Option<Report>, ReconcileError> {
        let ttl = self.config.lease_ttl();
        let started = Instant::now();
        let acquired = lease::Held::acquire(&*self.leases, LEASE, &self.holder, ttl).await;
        let Some(lease) = acquired.inspect_err(|_| self.tracker.stopped(false))? else {
            self.tracker.standby();
            return Ok(None);
        };
        self.tracker.lease(true);
        let outcome = pass::Pass::new(self, lease).run().await;
        match &outcome {
            Ok(_) => self.tracker.completed(started.elapsed()),
            Err(err) => self
                .tracker
                .stopped(matches!(err, ReconcileError::LostLease)),
        }
        outcome.map(Some)
    }

    /// Runs a pass every interval until `shutdown` resolves — also in the middle of a pass —
    /// then releases the lease so another instance can take over at once.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut ticks = tokio::time::interval(self.config.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = ticks.tick() => {}
            }
            self.tracker.report_lag();
            let outcome = tokio::select! {
                () = &mut shutdown => break,
                outcome = self.run_once() => outcome,
            };
            match outcome {
                Ok(Some(report)) => {
                    tracing::debug!(?report, "reconciler pass done");
                    if report.events > 0 {
                        tracing::info!(
                            streams = report.streams_checked,
                            events = report.events,
                            "reconciler healed drift from LiveKit"
                        );
                    }
                }
                Ok(None) => {}
                Err(err) => tracing::warn!(error = %err, "reconciler pass failed"),
            }
        }
        lease::release(&*self.leases, LEASE, &self.holder).await;
        self.tracker.released();
    }
}

#[cfg(test)]
mod tests;
