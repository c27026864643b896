//! What the reconciler reports at `/metrics` (through the `metrics` facade; the app installs
//! the recorder):
//!
//! - `orchestrator_reconciler_passes_total{outcome}`: `completed`, `failed` (the store or
//!   LiveKit failed; the next pass retries), `lost_lease`, or `standby` (another instance
//!   holds the lease);
//! - `orchestrator_reconciler_pass_duration_seconds`: how long completed passes took;
//! - `orchestrator_reconciler_streams_checked_total`: progress, one per live stream compared
//!   with LiveKit (its rate while a pass runs says how fast a pass goes);
//! - `orchestrator_reconciler_repairs_total`: events recorded to heal drift;
//! - `orchestrator_reconciler_lease_changes_total{change}`: `acquired`, `lost`, `released`;
//! - `orchestrator_reconciler_leader`: 1 while this instance holds the lease;
//! - `orchestrator_reconciler_last_pass_timestamp_seconds`: when this instance last completed
//!   a pass (unix time);
//! - `orchestrator_reconciler_lag_seconds`: on the lease holder, the age of its last complete
//!   pass (or of its lease, before the first), updated every interval and as a pass goes; 0
//!   on the others. Alert when it exceeds a few intervals: drift is not being healed.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Pass outcomes (the `outcome` label).
const OUTCOMES: [&str; 4] = ["completed", "failed", "lost_lease", "standby"];
/// Lease changes (the `change` label).
const CHANGES: [&str; 3] = ["acquired", "lost", "released"];

/// Shows every series of the reconciler from the start, at 0 (the app calls it once, when it
/// installs the recorder; a disabled reconciler then reports that it never ran).
pub fn register() {
    for outcome in OUTCOMES {
        metrics::counter!("orchestrator_reconciler_passes_total", "outcome" => outcome)
            .increment(0);
    }
    for change in CHANGES {
        metrics::counter!("orchestrator_reconciler_lease_changes_total", "change" => change)
            .increment(0);
    }
    // A histogram is shown once registered, with empty buckets.
    let _ = metrics::histogram!("orchestrator_reconciler_pass_duration_seconds");
    metrics::counter!("orchestrator_reconciler_streams_checked_total").increment(0);
    metrics::counter!("orchestrator_reconciler_repairs_total").increment(0);
    for gauge in [
        "orchestrator_reconciler_leader",
        "orchestrator_reconciler_last_pass_timestamp_seconds",
        "orchestrator_reconciler_lag_seconds",
    ] {
        metrics::gauge!(gauge).increment(0.0);
    }
}

/// The leadership and progress of one instance's reconciler, shared by its clones.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    leader: bool,
    /// When this instance took the lease, or last completed a pass under it.
    since: Option<Instant>,
}

fn lease_change(change: &'static str) {
    debug_assert!(CHANGES.contains(&change), "{change} is registered");
    metrics::counter!("orchestrator_reconciler_lease_changes_total", "change" => change)
        .increment(1);
}

fn pass(outcome: &'static str) {
    debug_assert!(OUTCOMES.contains(&outcome), "{outcome} is registered");
    metrics::counter!("orchestrator_reconciler_passes_total", "outcome" => outcome).increment(1);
}

impl Tracker {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether this instance holds the lease now (after taking or renewing it, or learning it
    /// is held by another).
    pub(crate) fn lease(&self, held: bool) {
        let mut state = self.state();
        if held == state.leader {
            return;
        }
        state.leader = held;
        state.since = held.then(Instant::now);
        lease_change(if held { "acquired" } else { "lost" });
        metrics::gauge!("orchestrator_reconciler_leader").set(if held { 1.0 } else { 0.0 });
    }

    /// The lease was given back at shutdown.
    pub(crate) fn released(&self) {
        let mut state = self.state();
        if state.leader {
            state.leader = false;
            lease_change("released");
            metrics::gauge!("orchestrator_reconciler_leader").set(0.0);
        }
    }

    /// Another instance holds the lease: nothing to do this interval.
    pub(crate) fn standby(&self) {
        self.lease(false);
        pass("standby");
    }

    /// A pass completed after `took`.
    pub(crate) fn completed(&self, took: Duration) {
        self.state().since = Some(Instant::now());
        pass("completed");
        metrics::histogram!("orchestrator_reconciler_pass_duration_seconds")
            .record(took.as_secs_f64());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        metrics::gauge!("orchestrator_reconciler_last_pass_timestamp_seconds")
            .set(now.as_secs_f64());
    }

    /// A pass stopped early: the lease was lost, or a dependency failed.
    pub(crate) fn stopped(&self, lost_lease: bool) {
        if lost_lease {
            self.lease(false);
        }
        pass(if lost_lease { "lost_lease" } else { "failed" });
    }

    /// Updates the lag gauge (called every interval).
    pub(crate) fn report_lag(&self) {
        let state = self.state();
        let lag = match (state.leader, state.since) {
            (true, Some(since)) => since.elapsed().as_secs_f64(),
            (true, None) | (false, _) => 0.0,
        };
        metrics::gauge!("orchestrator_reconciler_lag_seconds").set(lag);
    }
}

/// One live stream was compared with LiveKit.
pub(crate) fn stream_checked() {
    metrics::counter!("orchestrator_reconciler_streams_checked_total").increment(1);
}

/// Events were recorded to heal drift.
pub(crate) fn repaired(events: usize) {
    metrics::counter!("orchestrator_reconciler_repairs_total")
        .increment(u64::try_from(events).unwrap_or(u64::MAX));
}
