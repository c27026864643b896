//! Broadcast in and out: a stream's ingest (LiveKit Ingress, where an encoder publishes) and
//! outputs (LiveKit Egress: HLS for players, RTMP to other platforms, recordings), orchestrated
//! with the stream's life.
//!
//! Both are records of their own beside the stream ([`BroadcastRepository`]), like
//! participants: nothing about them makes a join or a GET cost more. "Went live" (the first
//! host publishing, or the ingest publishing) and "stopped" are decisions of the domain that
//! produce output commands; each output's state machine ([`Output::decide`]) turns them into a
//! claim that the store records atomically, so one egress starts per output however many
//! instances decide at once. The use cases are methods of the
//! [`StreamService`](crate::service::StreamService) (`service::broadcast`).
//!
//! # Layout
//!
//! Every type is exported here, once (the files are private):
//!
//! - `values`: output names ([`OutputId`]), RTMP targets ([`RtmpTarget`]), [`Secret`]s.
//! - `output`: [`Output`], its kinds, desired and observed states, the state machine
//!   ([`Output::decide`]).
//! - `ingest`: [`Ingest`], its kinds and states.
//! - `ports`: the store ([`BroadcastRepository`]), LiveKit's Ingress and Egress
//!   ([`BroadcastMedia`]), the background [`Runtime`].
//! - `unsupported`: [`Unsupported`], the ports of a service that does not broadcast.
//! - `view`: what callers and events see ([`OutputView`], [`IngestView`]: secrets whole or
//!   redacted, as the [`Exposure`] says).

mod ingest;
mod output;
mod ports;
mod unsupported;
mod values;
mod view;

pub use ingest::{Ingest, IngestKind, IngestState, IngressReport};
pub use output::{
    Desired, EgressReport, EgressStatus, FollowUp, Observed, Output, OutputCommand, OutputDecision,
    OutputKind, OutputRefusal, MAX_ATTEMPTS, MAX_OUTPUTS, MAX_TARGETS,
};
pub use ports::{
    BroadcastMedia, BroadcastRecord, BroadcastRepository, BroadcastState, BroadcastWrite,
    BroadcastWriteError, CreatedIngress, Observation, Runtime, StartedEgress, Task,
};
#[cfg(any(test, feature = "mocks"))]
pub use ports::{MockBroadcastMedia, MockBroadcastRepository, MockRuntime};
pub use unsupported::Unsupported;
pub use values::{OutputId, RtmpTarget, Secret};
pub use view::{Exposure, IngestView, OutputView};

/// What this deployment allows of outputs, and how it retries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BroadcastPolicy {
    /// Whether egresses can write files (storage is configured, or LiveKit provides it): `hls`
    /// and `recording` outputs need it.
    pub storage: bool,
    /// Whether RTMP targets may point at loopback, link-local or private addresses (never in
    /// production: no request forgery through our egress).
    pub internal_targets: bool,
    /// The backoff before the second attempt of a start; it doubles for each next one.
    pub retry_backoff: std::time::Duration,
}

impl BroadcastPolicy {
    /// The most a backoff grows to, in multiples of [`BroadcastPolicy::retry_backoff`].
    pub const MAX_BACKOFF_FACTOR: u32 = 30;

    /// The wait before the attempt after `attempt` failed: the base, doubled for each attempt
    /// before, at most [`BroadcastPolicy::MAX_BACKOFF_FACTOR`] times the base.
    pub fn backoff(&self, attempt: u32) -> std::time::Duration {
        let factor = (1_u32 << attempt.saturating_sub(1).min(5)).min(Self::MAX_BACKOFF_FACTOR);
        self.retry_backoff.saturating_mul(factor)
    }
}

impl Default for BroadcastPolicy {
    /// Storage provided, internal targets allowed, one second of backoff: a development set-up.
    fn default() -> Self {
        Self {
            storage: true,
            internal_targets: true,
            retry_backoff: std::time::Duration::from_secs(1),
        }
    }
}

/// Why a broadcast operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BroadcastError {
    /// The stream has no ingest.
    #[error("the stream has no ingest")]
    IngestNotFound,
    /// The stream has an ingest already (rotate its key, or delete it first).
    #[error("the stream has an ingest already: rotate its key or delete it first")]
    IngestExists,
    /// The stream has no output of this name.
    #[error("the stream has no output \"{0}\"")]
    OutputNotFound(String),
    /// The stream has an output of this name already.
    #[error("the stream has an output \"{0}\" already")]
    OutputExists(OutputId),
    /// The stream has the most outputs it may have.
    #[error("a stream has at most {MAX_OUTPUTS} outputs")]
    TooManyOutputs,
    /// The output is stopping; it may start again once complete.
    #[error("output \"{0}\" is stopping; start it again once it is complete")]
    OutputBusy(OutputId),
    /// No storage is configured for outputs that write files.
    #[error("{0} outputs write files, and no storage is configured (broadcast.storage)")]
    StorageNotConfigured(&'static str),
    /// The record kept changing under concurrent changes; retry.
    #[error("the {0} kept changing while this change was decided; retry")]
    Contended(&'static str),
    /// The service was built without broadcast ports (see
    /// [`Ports::with_broadcast`](crate::service::Ports::with_broadcast)).
    #[error("this service does not broadcast: it has no ingest or output support")]
    Unsupported,
}

impl From<output::OutputRefusal> for BroadcastError {
    fn from(refusal: output::OutputRefusal) -> Self {
        match refusal {
            output::OutputRefusal::Busy(id) => BroadcastError::OutputBusy(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = BroadcastPolicy::default();

        let delays: Vec<u64> = (1..=8)
            .map(|attempt| policy.backoff(attempt).as_secs())
            .collect();

        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
        let fast = BroadcastPolicy {
            retry_backoff: Duration::from_millis(10),
            ..policy
        };
        assert_eq!(fast.backoff(3), Duration::from_millis(40));
    }
}
