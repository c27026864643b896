//! Readiness: whether this instance should receive traffic now — the one policy behind
//! `/health/ready` and gRPC's `grpc.health.v1`.
//!
//! An instance is ready while it is not draining and both of its dependencies answer: the state
//! store and LiveKit. Draining is set once, at shutdown, before the servers stop, so a load
//! balancer moves traffic away while requests still succeed. LiveKit's state is a cached result
//! of a background check (probing LiveKit on every readiness request would put a load balancer's
//! probe rate on LiveKit); the store's can be both: the background check keeps a cached state for
//! the transports that cannot ask on each request (gRPC health), and the HTTP probe pings the
//! store itself (the Redis breaker makes that ping fail fast during an outage).
//!
//! Plain state, no I/O: the app runs the checks and writes their results here.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// What a dependency answered the last time it was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// It answered.
    Up,
    /// It did not; why, in words (never a secret: a LiveKit or store error message).
    Down(String),
}

impl Check {
    /// The result of a check: `Up` on success, `Down` with the error's message otherwise.
    pub fn of<E: fmt::Display>(result: &Result<(), E>) -> Self {
        match result {
            Ok(()) => Self::Up,
            Err(err) => Self::Down(err.to_string()),
        }
    }

    /// Whether the dependency answered.
    pub fn is_up(&self) -> bool {
        matches!(self, Self::Up)
    }
}

/// Why an instance is not ready, in order of precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReady {
    /// It is shutting down.
    Draining,
    /// The state store does not answer.
    Store,
    /// LiveKit does not answer.
    Media,
}

/// The state of every readiness condition at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadinessReport {
    /// Shutting down: traffic should go elsewhere.
    pub draining: bool,
    /// The state store.
    pub store: Check,
    /// LiveKit.
    pub media: Check,
}

impl ReadinessReport {
    /// Whether the instance should receive traffic.
    pub fn is_ready(&self) -> bool {
        self.blocker().is_none()
    }

    /// The first reason the instance is not ready, if any.
    pub fn blocker(&self) -> Option<NotReady> {
        if self.draining {
            Some(NotReady::Draining)
        } else if !self.store.is_up() {
            Some(NotReady::Store)
        } else if !self.media.is_up() {
            Some(NotReady::Media)
        } else {
            None
        }
    }

    /// Every reason the instance is not ready, in words, `; `-separated (empty when ready).
    /// Names the dependencies only: what they answered is for the logs ([`Self::details`]),
    /// not for whoever can reach a readiness probe.
    pub fn explain(&self) -> String {
        let mut reasons = Vec::new();
        if self.draining {
            reasons.push("this instance is shutting down");
        }
        if !self.store.is_up() {
            reasons.push("the state store is unavailable");
        }
        if !self.media.is_up() {
            reasons.push("LiveKit is unreachable");
        }
        reasons.join("; ")
    }

    /// As [`Self::explain`], with what each dependency that is down answered (for logs).
    pub fn details(&self) -> String {
        let mut reasons = Vec::new();
        if self.draining {
            reasons.push("this instance is shutting down".to_owned());
        }
        if let Check::Down(why) = &self.store {
            reasons.push(format!("the state store is unavailable: {why}"));
        }
        if let Check::Down(why) = &self.media {
            reasons.push(format!("LiveKit is unreachable: {why}"));
        }
        reasons.join("; ")
    }
}

#[derive(Debug)]
struct Inner {
    draining: AtomicBool,
    store: Mutex<Check>,
    media: Mutex<Check>,
}

/// The instance's readiness, shared by the checks that write it and the transports that
/// report it. Cheap to clone. Both dependencies count as up until a check says otherwise.
#[derive(Debug, Clone)]
pub struct Readiness {
    inner: Arc<Inner>,
}

impl Default for Readiness {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                draining: AtomicBool::new(false),
                store: Mutex::new(Check::Up),
                media: Mutex::new(Check::Up),
            }),
        }
    }
}

impl Readiness {
    /// Marks the instance as shutting down, for good.
    pub fn start_draining(&self) {
        self.inner.draining.store(true, Ordering::Release);
    }

    /// Whether the instance is shutting down.
    pub(crate) fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Acquire)
    }

    /// Records the result of a store check.
    pub fn set_store(&self, check: Check) {
        *self
            .inner
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = check;
    }

    /// Records the result of a LiveKit check.
    pub fn set_media(&self, check: Check) {
        *self
            .inner
            .media
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = check;
    }

    /// The conditions as last recorded.
    pub fn report(&self) -> ReadinessReport {
        let read =
            |check: &Mutex<Check>| check.lock().unwrap_or_else(PoisonError::into_inner).clone();
        ReadinessReport {
            draining: self.is_draining(),
            store: read(&self.inner.store),
            media: read(&self.inner.media),
        }
    }

    /// The conditions as last recorded, with the store's state just checked by the caller.
    pub fn report_with_store(&self, store: Check) -> ReadinessReport {
        ReadinessReport {
            store,
            ..self.report()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_instance_is_ready() {
        let readiness = Readiness::default();

        let report = readiness.report();

        assert!(report.is_ready());
        assert_eq!(report.explain(), "");
    }

    #[test]
    fn draining_wins_over_every_dependency_and_every_reason_is_told() {
        let readiness = Readiness::default();
        readiness.set_media(Check::Down("connection refused".into()));

        readiness.start_draining();
        let report = readiness.report_with_store(Check::Down("timeout".into()));

        assert_eq!(report.blocker(), Some(NotReady::Draining));
        assert_eq!(
            report.explain(),
            "this instance is shutting down; the state store is unavailable; \
             LiveKit is unreachable"
        );
        assert_eq!(
            report.details(),
            "this instance is shutting down; the state store is unavailable: timeout; \
             LiveKit is unreachable: connection refused"
        );
    }

    #[test]
    fn the_store_is_named_before_livekit_and_a_recovery_makes_it_ready_again() {
        let readiness = Readiness::default();
        readiness.set_store(Check::Down("down".into()));
        readiness.set_media(Check::Down("down".into()));
        assert_eq!(readiness.report().blocker(), Some(NotReady::Store));

        readiness.set_store(Check::Up);
        assert_eq!(readiness.report().blocker(), Some(NotReady::Media));

        readiness.set_media(Check::of::<String>(&Ok(())));
        assert!(readiness.report().is_ready());
    }
}
