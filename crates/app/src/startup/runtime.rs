//! The domain's background runtime on tokio: LiveKit calls that follow a decision (egress
//! starts, retries with backoff, stops) run on the process's multi-threaded runtime, whichever
//! thread decided them (an actix worker has a runtime of its own that ends with the worker).

use std::time::Duration;

use async_trait::async_trait;
use orchestrator_domain::broadcast::{Observation, Task};
use orchestrator_domain::broadcast::{Observed, Runtime};
use tokio::runtime::Handle;

/// Spawns on the runtime it was made on.
#[derive(Debug, Clone)]
pub(crate) struct TokioRuntime {
    handle: Handle,
}

impl TokioRuntime {
    /// On the current runtime (call from the main one).
    pub(crate) fn current() -> Self {
        Self {
            handle: Handle::current(),
        }
    }
}

#[async_trait]
impl Runtime for TokioRuntime {
    fn spawn(&self, task: Task) {
        drop(self.handle.spawn(task));
    }

    async fn sleep(&self, delay: Duration) {
        tokio::time::sleep(delay).await;
    }

    fn note(&self, what: &str) {
        tracing::warn!(what, "broadcast: left for the reconciler");
    }

    fn observe(&self, observation: Observation) {
        match observation {
            Observation::Entered(observed) => {
                metrics::counter!("orchestrator_output_transitions_total", "observed" => observed_label(observed))
                    .increment(1);
            }
            Observation::EgressStart(accepted) => {
                let outcome = if accepted { "accepted" } else { "failed" };
                metrics::counter!("orchestrator_egress_starts_total", "outcome" => outcome)
                    .increment(1);
            }
            Observation::Retry => {
                metrics::counter!("orchestrator_output_retries_total").increment(1)
            }
        }
    }
}

/// The `observed` label of an output state.
pub(crate) fn observed_label(observed: Observed) -> &'static str {
    match observed {
        Observed::Idle => "idle",
        Observed::Starting => "starting",
        Observed::Active => "active",
        Observed::Ending => "ending",
        Observed::Complete => "complete",
        Observed::Failed => "failed",
    }
}

/// Shows every broadcast series at 0 from the start.
pub(crate) fn register() {
    for observed in [
        Observed::Idle,
        Observed::Starting,
        Observed::Active,
        Observed::Ending,
        Observed::Complete,
        Observed::Failed,
    ] {
        metrics::counter!("orchestrator_output_transitions_total", "observed" => observed_label(observed))
            .increment(0);
    }
    for outcome in ["accepted", "failed"] {
        metrics::counter!("orchestrator_egress_starts_total", "outcome" => outcome).increment(0);
    }
    metrics::counter!("orchestrator_output_retries_total").increment(0);
}
