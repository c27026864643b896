//! A stream's outputs: what each is (HLS for players, RTMP to other platforms, a recording),
//! what the operator wants of it (desired: on or off) and what LiveKit's egress is doing
//! (observed), and the pure state machine between them.
//!
//! Starting is a claim: [`Output::decide`] turns an output that should run and does not into
//! `starting` with one more attempt, and the store records that in the same atomic step as
//! the output's previous revision is checked ([`crate::broadcast::BroadcastRepository`]), so of
//! any number of instances or retries deciding at once exactly one wins, and only the winner
//! asks LiveKit for an egress.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ports::StartedEgress;
use super::values::{OutputId, RtmpTarget};
use crate::values::ValidationError;

/// Most outputs a stream may have.
pub const MAX_OUTPUTS: usize = 8;
/// Most targets one `rtmp` output may send to.
pub const MAX_TARGETS: usize = 5;
/// Attempts to start an egress (the first and its retries) before an output is `failed`.
pub const MAX_ATTEMPTS: u32 = 4;

/// What an output produces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputKind {
    /// HLS segments and a playlist, for players (its playback URL once active).
    Hls,
    /// The stream pushed to other platforms.
    Rtmp {
        /// 1 to [`MAX_TARGETS`] `rtmp://` / `rtmps://` URLs (secrets).
        targets: Vec<RtmpTarget>,
    },
    /// A file of the whole stream.
    Recording,
}

impl OutputKind {
    /// The kind's wire name.
    pub fn name(&self) -> &'static str {
        match self {
            OutputKind::Hls => "hls",
            OutputKind::Rtmp { .. } => "rtmp",
            OutputKind::Recording => "recording",
        }
    }

    /// Whether its egress writes files (and so needs storage to be configured).
    pub fn needs_storage(&self) -> bool {
        match self {
            OutputKind::Hls | OutputKind::Recording => true,
            OutputKind::Rtmp { .. } => false,
        }
    }

    /// Validates an `rtmp` output's targets.
    ///
    /// # Errors
    /// [`ValidationError`] (field `targets`) for none, or more than [`MAX_TARGETS`].
    pub fn rtmp(targets: Vec<RtmpTarget>) -> Result<Self, ValidationError> {
        if targets.is_empty() || targets.len() > MAX_TARGETS {
            return Err(ValidationError::new(
                "targets",
                format!("an rtmp output needs 1 to {MAX_TARGETS} targets"),
            ));
        }
        Ok(OutputKind::Rtmp { targets })
    }
}

/// What the operator wants of an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Desired {
    /// It should run (once the stream is live, for an output that starts with it).
    On,
    /// It should not run.
    Off,
}

/// What LiveKit's egress for an output is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Observed {
    /// Never started, or waiting for the stream to go live.
    Idle,
    /// Claimed: an egress is being asked for (or retried), or LiveKit is starting it.
    Starting,
    /// LiveKit reports it running.
    Active,
    /// Asked to stop; LiveKit is finishing it.
    Ending,
    /// It ended (stopped, or the stream did).
    Complete,
    /// It could not be started, or it broke, after [`MAX_ATTEMPTS`] attempts.
    Failed,
}

impl Observed {
    /// Whether an egress may be running (or about to).
    pub fn is_running(self) -> bool {
        matches!(
            self,
            Observed::Starting | Observed::Active | Observed::Ending
        )
    }
}

/// One output of a stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    /// Its name within the stream.
    pub id: OutputId,
    /// What it produces.
    #[serde(flatten)]
    pub kind: OutputKind,
    /// Whether it starts when the stream goes live.
    pub auto_start: bool,
    /// What the operator wants.
    pub desired: Desired,
    /// What its egress is doing.
    pub observed: Observed,
    /// LiveKit's egress id, once LiveKit accepted the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_id: Option<String>,
    /// Why the last attempt failed, while retrying or once failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Attempts of the current start (1 for the first).
    pub attempts: u32,
    /// Where players read it (`hls`), once LiveKit says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playback_url: Option<String>,
    /// Where the file or segments are written (`recording`, `hls`), once LiveKit says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// When the claimed start is sent to LiveKit (starts are paced, so a claim may wait its
    /// turn): a claim counts as interrupted only some time after it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::policy::time::millis_opt",
        deserialize_with = "crate::policy::time::read_opt"
    )]
    pub start_at: Option<DateTime<Utc>>,
    /// Bumped by every change: the store's fence.
    pub revision: u64,
    /// When it last changed.
    #[serde(
        serialize_with = "crate::policy::time::millis",
        deserialize_with = "crate::policy::time::read"
    )]
    pub updated_at: DateTime<Utc>,
}

/// What LiveKit reports of an egress (a webhook, or the reconciler's listing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressReport {
    /// LiveKit's egress id.
    pub egress_id: String,
    /// Its status.
    pub status: EgressStatus,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Where players read it, when LiveKit says (an HLS playlist).
    pub playback_url: Option<String>,
    /// Where its file or segments are, when LiveKit says.
    pub location: Option<String>,
}

/// LiveKit's egress statuses, as the domain distinguishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EgressStatus {
    /// `EGRESS_STARTING`.
    Starting,
    /// `EGRESS_ACTIVE`.
    Active,
    /// `EGRESS_ENDING`.
    Ending,
    /// `EGRESS_COMPLETE`.
    Complete,
    /// `EGRESS_FAILED`, `EGRESS_ABORTED`, `EGRESS_LIMIT_REACHED`: it broke.
    Failed,
    /// Gone from LiveKit's listing while we thought it running (the reconciler's finding).
    Missing,
}

/// What happens to an output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputCommand {
    /// The operator starts it (or a retry after it failed).
    Start,
    /// The stream went live: an output that should run and has not started starts.
    WentLive,
    /// The operator stops it, or the stream stopped.
    Stop,
    /// LiveKit accepted the start of the claimed attempt.
    Started(StartedEgress),
    /// LiveKit refused or failed the start of the claimed attempt.
    StartFailed {
        /// Why, in words.
        reason: String,
        /// Whether trying again may work (LiveKit unavailable), or not (it refused the request).
        retryable: bool,
    },
    /// The next attempt after a failed one (decided by whoever scheduled it).
    Retry,
    /// LiveKit reports the egress.
    Egress(EgressReport),
}

/// What the owner of a decided change must do with LiveKit after recording it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowUp {
    /// Nothing.
    None,
    /// Ask LiveKit for an egress: this change claimed the attempt.
    StartEgress,
    /// Ask LiveKit to stop this egress.
    StopEgress(String),
    /// Try again after a backoff (attempt number `attempt` failed; see
    /// [`BroadcastPolicy::backoff`](crate::broadcast::BroadcastPolicy::backoff)).
    RetryAfter {
        /// The attempt that failed.
        attempt: u32,
    },
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputRefusal {
    /// It is being stopped; start it again once it is complete.
    #[error("output {0} is stopping; start it again once it is complete")]
    Busy(OutputId),
}

/// A decided change: the output afterwards, if it changed, and what to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputDecision {
    /// The output afterwards, to record (its revision not yet bumped: the store does that);
    /// `None` when nothing changes.
    pub output: Option<Output>,
    /// What the caller does with LiveKit once the change is recorded.
    pub follow_up: FollowUp,
}

impl OutputDecision {
    /// Nothing to record, nothing to do.
    pub fn nothing() -> Self {
        Self {
            output: None,
            follow_up: FollowUp::None,
        }
    }

    /// Whether the decision changes nothing and asks for nothing.
    pub fn is_nothing(&self) -> bool {
        self.output.is_none() && self.follow_up == FollowUp::None
    }
}

impl Output {
    /// A new output: `on` waiting for the stream to go live when it starts with it, `off`
    /// otherwise.
    pub fn new(id: OutputId, kind: OutputKind, auto_start: bool, at: DateTime<Utc>) -> Self {
        Self {
            id,
            kind,
            auto_start,
            desired: if auto_start {
                Desired::On
            } else {
                Desired::Off
            },
            observed: Observed::Idle,
            egress_id: None,
            failure: None,
            attempts: 0,
            playback_url: None,
            location: None,
            start_at: None,
            revision: 0,
            updated_at: at,
        }
    }

    /// What `command` does to this output.
    ///
    /// # Errors
    /// [`OutputRefusal`] when the command cannot apply now.
    pub fn decide(
        &self,
        command: &OutputCommand,
        at: DateTime<Utc>,
    ) -> Result<OutputDecision, OutputRefusal> {
        let mut next = self.clone();
        let follow_up = match command {
            OutputCommand::Start => match self.observed {
                Observed::Ending => return Err(OutputRefusal::Busy(self.id.clone())),
                // Already running (or a start in flight): it only has to be wanted.
                Observed::Starting | Observed::Active => {
                    next.desired = Desired::On;
                    FollowUp::None
                }
                Observed::Idle | Observed::Complete | Observed::Failed => next.claim(1),
            },
            OutputCommand::WentLive if self.desired == Desired::On => match self.observed {
                Observed::Idle => next.claim(1),
                Observed::Starting
                | Observed::Active
                | Observed::Ending
                | Observed::Complete
                | Observed::Failed => FollowUp::None,
            },
            OutputCommand::WentLive => FollowUp::None,
            OutputCommand::Stop => next.stop(),
            OutputCommand::Started(started) => next.started(started),
            OutputCommand::StartFailed { reason, retryable } if next.awaits_egress() => {
                if !retryable {
                    next.attempts = MAX_ATTEMPTS;
                }
                next.failed_attempt(reason.clone())
            }
            OutputCommand::StartFailed { .. } => FollowUp::None,
            OutputCommand::Retry if next.awaits_retry() && self.desired == Desired::On => {
                next.claim(self.attempts + 1)
            }
            OutputCommand::Retry => FollowUp::None,
            OutputCommand::Egress(report) => next.reported(report),
        };
        let changed = !next.same_state(self);
        if changed {
            next.updated_at = at;
        }
        Ok(OutputDecision {
            output: changed.then_some(next),
            follow_up,
        })
    }

    /// Equal but for when it changed and its revision.
    fn same_state(&self, other: &Output) -> bool {
        Output {
            updated_at: other.updated_at,
            revision: other.revision,
            ..self.clone()
        } == *other
    }

    /// A start is claimed and LiveKit has not answered it yet.
    fn awaits_egress(&self) -> bool {
        self.observed == Observed::Starting && self.egress_id.is_none() && self.failure.is_none()
    }

    /// The last attempt failed and the next one is due.
    fn awaits_retry(&self) -> bool {
        self.observed == Observed::Starting && self.egress_id.is_none() && self.failure.is_some()
    }

    /// This change claims attempt `attempt`: the caller asks LiveKit for an egress.
    fn claim(&mut self, attempt: u32) -> FollowUp {
        self.desired = Desired::On;
        self.observed = Observed::Starting;
        self.attempts = attempt;
        self.egress_id = None;
        self.failure = None;
        self.playback_url = None;
        FollowUp::StartEgress
    }

    /// The claimed attempt failed: retry later, or give up after [`MAX_ATTEMPTS`].
    fn failed_attempt(&mut self, reason: String) -> FollowUp {
        self.egress_id = None;
        self.failure = Some(reason);
        if self.desired == Desired::On && self.attempts < MAX_ATTEMPTS {
            self.observed = Observed::Starting;
            return FollowUp::RetryAfter {
                attempt: self.attempts,
            };
        }
        self.observed = if self.desired == Desired::On {
            Observed::Failed
        } else {
            Observed::Complete
        };
        FollowUp::None
    }

    fn stop(&mut self) -> FollowUp {
        self.desired = Desired::Off;
        match (self.observed, self.egress_id.clone()) {
            (Observed::Starting | Observed::Active, Some(egress)) => {
                self.observed = Observed::Ending;
                FollowUp::StopEgress(egress)
            }
            // Waiting to retry: nothing runs, nothing will.
            (Observed::Starting, None) if self.failure.is_some() => {
                self.observed = Observed::Complete;
                FollowUp::None
            }
            // A start is in flight: its answer finds the output off and stops what it started.
            (Observed::Starting, None)
            | (Observed::Idle | Observed::Active | Observed::Ending, _)
            | (Observed::Complete | Observed::Failed, _) => FollowUp::None,
        }
    }

    fn started(&mut self, started: &StartedEgress) -> FollowUp {
        let egress_id = started.egress_id.as_str();
        if self.egress_id.as_deref() == Some(egress_id) {
            return FollowUp::None;
        }
        if !self.awaits_egress() {
            // Not the claimed attempt any more: the egress just started belongs to nobody.
            return FollowUp::StopEgress(egress_id.to_owned());
        }
        self.egress_id = Some(egress_id.to_owned());
        self.playback_url.clone_from(&started.playback_url);
        self.location.clone_from(&started.location);
        if self.desired == Desired::Off {
            self.observed = Observed::Ending;
            return FollowUp::StopEgress(egress_id.to_owned());
        }
        FollowUp::None
    }

    fn reported(&mut self, report: &EgressReport) -> FollowUp {
        if self.egress_id.as_deref() != Some(report.egress_id.as_str()) {
            return FollowUp::None;
        }
        if report.playback_url.is_some() {
            self.playback_url.clone_from(&report.playback_url);
        }
        if report.location.is_some() {
            self.location.clone_from(&report.location);
        }
        match report.status {
            EgressStatus::Active if self.observed == Observed::Starting => {
                self.observed = Observed::Active;
            }
            EgressStatus::Ending if self.observed.is_running() => {
                self.observed = Observed::Ending;
            }
            EgressStatus::Complete => {
                self.observed = Observed::Complete;
                self.egress_id = None;
            }
            EgressStatus::Failed | EgressStatus::Missing
                if self.desired == Desired::On && self.observed != Observed::Ending =>
            {
                let reason = report.error.clone().unwrap_or_else(|| {
                    if report.status == EgressStatus::Missing {
                        "LiveKit no longer lists the egress".to_owned()
                    } else {
                        "the egress failed".to_owned()
                    }
                });
                return self.failed_attempt(reason);
            }
            EgressStatus::Failed | EgressStatus::Missing => {
                self.observed = Observed::Complete;
                self.egress_id = None;
            }
            EgressStatus::Starting | EgressStatus::Active | EgressStatus::Ending => {}
        }
        FollowUp::None
    }
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;
