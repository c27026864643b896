//! Redis command latency, errors and the breaker's state, through the `metrics` facade (the
//! app installs the recorder; without one this costs nothing):
//!
//! - `orchestrator_redis_command_duration_seconds{op}`: each round trip (a command, a script or
//!   a pipeline), successful or not. `op` is a fixed name per call site (`hmget`,
//!   `script:apply`, …): never a key;
//! - `orchestrator_redis_command_errors_total{kind}`: failed round trips, `kind` being
//!   `timeout`, `io` (both open the breaker) or `other`;
//! - `orchestrator_redis_breaker_open`: 1 while the breaker refuses commands (Redis is not
//!   answering), 0 otherwise;
//! - `orchestrator_redis_fail_fast_total`: operations refused at once because Redis was
//!   known to be down (breaker open, or the client reconnecting);
//! - `orchestrator_events_published_total{type}`: events that reached this instance's live
//!   feed (its one subscription: every instance's events, once each).

use std::cell::RefCell;
use std::future::Future;
use std::time::Instant;

use fred::error::{Error, ErrorKind};
use orchestrator_domain::event::StreamEvent;
use orchestrator_domain::ports::StoreError;

use crate::client::Connection;

/// Failure kinds (the `kind` label).
const ERROR_KINDS: [&str; 3] = ["timeout", "io", "other"];

/// Shows the Redis store's series from the start, at 0 (the app calls it once it is on
/// Redis; on the in-memory store these families are declared, without series). Durations by
/// `op` appear as round trips happen.
pub fn register() {
    for kind in ERROR_KINDS {
        metrics::counter!("orchestrator_redis_command_errors_total", "kind" => kind).increment(0);
    }
    metrics::gauge!("orchestrator_redis_breaker_open").increment(0.0);
    metrics::counter!("orchestrator_redis_fail_fast_total").increment(0);
}

/// A Redis round trip that is timed, and whose failure goes through
/// [`Connection::failed`] (which counts it and may open the breaker).
pub(crate) trait Timed<T>: Future<Output = Result<T, Error>> + Sized {
    /// Awaits the round trip, recording its latency under `op`.
    async fn timed(self, conn: &Connection, op: &'static str) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = self.await;
        record_duration(op, started.elapsed().as_secs_f64());
        result.map_err(|err| conn.failed(err))
    }
}

thread_local! {
    /// This thread's duration histograms by `op`: looking one up in the recorder hashes its
    /// name and labels, which on a cheap read cost as much as recording.
    static DURATIONS: RefCell<Durations> = const {
        RefCell::new(Durations { recorder: 0, by_op: Vec::new() })
    };
}

/// Histograms of one recorder (known by its address: one installed later, or a test's local
/// one, gets handles of its own).
struct Durations {
    recorder: usize,
    by_op: Vec<(&'static str, metrics::Histogram)>,
}

fn record_duration(op: &'static str, seconds: f64) {
    let recorder =
        metrics::with_recorder(|recorder| std::ptr::from_ref(recorder).cast::<()>().addr());
    DURATIONS.with(|durations| {
        let mut durations = durations.borrow_mut();
        if durations.recorder != recorder {
            durations.recorder = recorder;
            durations.by_op.clear();
        }
        let at = match durations.by_op.iter().position(|(known, _)| *known == op) {
            Some(at) => at,
            None => {
                let histogram =
                    metrics::histogram!("orchestrator_redis_command_duration_seconds", "op" => op);
                durations.by_op.push((op, histogram));
                durations.by_op.len() - 1
            }
        };
        durations.by_op[at].1.record(seconds);
    });
}

impl<T, F: Future<Output = Result<T, Error>>> Timed<T> for F {}

/// Counts a failed round trip.
pub(crate) fn failed(err: &Error) {
    // fred's error kinds depend on its features, so only the two outage kinds are named.
    let kind = if matches!(err.kind(), ErrorKind::Timeout) {
        "timeout"
    } else if matches!(err.kind(), ErrorKind::IO) {
        "io"
    } else {
        "other"
    };
    metrics::counter!("orchestrator_redis_command_errors_total", "kind" => kind).increment(1);
}

/// Records whether the breaker is open.
pub(crate) fn breaker_open(open: bool) {
    metrics::gauge!("orchestrator_redis_breaker_open").set(if open { 1.0 } else { 0.0 });
}

/// Counts an operation refused without asking Redis.
pub(crate) fn failed_fast() {
    metrics::counter!("orchestrator_redis_fail_fast_total").increment(1);
}

/// Counts an event the instance's subscription received.
pub(crate) fn published(event: &StreamEvent) {
    metrics::counter!("orchestrator_events_published_total", "type" => event.kind.as_str())
        .increment(1);
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use metrics::{
        Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString,
        Unit,
    };

    use super::*;

    /// Counts what is recorded into any histogram it hands out.
    #[derive(Default)]
    struct Recorded(Arc<Count>);

    #[derive(Default)]
    struct Count(AtomicU64);

    impl HistogramFn for Count {
        fn record(&self, _: f64) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    impl Recorder for Recorded {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
            Counter::noop()
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::from_arc(self.0.clone())
        }
    }

    #[test]
    fn durations_reach_the_recorder_in_use_even_after_another_one_was_used_on_this_thread() {
        let (first, second) = (Recorded::default(), Recorded::default());
        let recorded = |recorder: &Recorded| recorder.0 .0.load(Ordering::Relaxed);

        metrics::with_local_recorder(&first, || record_duration("hmget", 0.001));
        metrics::with_local_recorder(&second, || {
            record_duration("hmget", 0.001);
            record_duration("hmget", 0.002);
        });

        assert_eq!(recorded(&first), 1);
        assert_eq!(recorded(&second), 2);
    }
}
