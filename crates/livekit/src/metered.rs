//! LiveKit call outcomes and latencies, through the `metrics` facade (the app installs the
//! recorder; without one this costs nothing).
//!
//! - `orchestrator_livekit_requests_total{method, outcome}`: `outcome` is `ok`, `not_found`,
//!   `unavailable` or `rejected` (the domain's [`MediaError`] kinds);
//! - `orchestrator_livekit_request_duration_seconds{method}`: how long each call took.
//!
//! `method` is one of a fixed set of RoomService, Ingress and Egress calls (and `probe`, the
//! readiness check), so no room name or identity ever becomes a label.

use std::future::Future;
use std::time::Instant;

use orchestrator_domain::ports::MediaError;

/// The calls counted by name (the `method` label).
const METHODS: [&str; 13] = [
    "create_room",
    "delete_room",
    "list_rooms",
    "list_participants",
    "remove_participant",
    "update_room_metadata",
    "probe",
    "create_ingress",
    "delete_ingress",
    "list_ingress",
    "start_egress",
    "stop_egress",
    "list_egress",
];
/// The outcomes (the `outcome` label), one per [`MediaError`] kind and `ok`.
const OUTCOMES: [&str; 4] = ["ok", "not_found", "unavailable", "rejected"];

/// Shows every method's outcomes at 0 and its latency histogram empty from the start (the app
/// calls it once, when it installs the recorder).
pub fn register() {
    for method in METHODS {
        for outcome in OUTCOMES {
            metrics::counter!(
                "orchestrator_livekit_requests_total",
                "method" => method,
                "outcome" => outcome
            )
            .increment(0);
        }
        let _ = metrics::histogram!("orchestrator_livekit_request_duration_seconds", "method" => method);
    }
}

/// Runs one LiveKit call, counting its outcome and timing it.
pub(crate) async fn observed<T>(
    method: &'static str,
    call: impl Future<Output = Result<T, MediaError>>,
) -> Result<T, MediaError> {
    debug_assert!(METHODS.contains(&method), "{method} is registered");
    let started = Instant::now();
    let result = call.await;
    metrics::histogram!("orchestrator_livekit_request_duration_seconds", "method" => method)
        .record(started.elapsed().as_secs_f64());
    let outcome = match &result {
        Ok(_) => "ok",
        Err(MediaError::NotFound(_)) => "not_found",
        Err(MediaError::Unavailable(_)) => "unavailable",
        Err(MediaError::Rejected(_)) => "rejected",
    };
    metrics::counter!(
        "orchestrator_livekit_requests_total",
        "method" => method,
        "outcome" => outcome
    )
    .increment(1);
    result
}
