//! The domain's background runtime on tokio: LiveKit calls that follow a decision (egress
//! starts, retries with backoff, stops) run on the process's multi-threaded runtime, whichever
//! thread decided them (an actix worker has a runtime of its own that ends with the worker).

use std::time::Duration;

use async_trait::async_trait;
use orchestrator_domain::broadcast::ports::Task;
use orchestrator_domain::broadcast::Runtime;
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
}
