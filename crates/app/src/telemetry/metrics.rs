//! The process's one metrics recorder: the Prometheus exporter behind the `metrics` facade the
//! adapters count through, rendered at `GET /metrics`.
//!
//! Installed once per process (several applications in one test process share it), with
//! histogram buckets for request latencies and for reconciler passes, and a description of
//! every family for the `# HELP` lines. [`FAMILIES`] is the catalogue: the README's table and
//! the metrics test follow it.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;

/// Latency buckets (seconds): half a millisecond to ten seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Reconciler pass buckets (seconds): a tenth of a second to ten minutes.
const PASS_BUCKETS: [f64; 10] = [0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];
/// How often histograms are compacted when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// What kind of family a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// A distribution in seconds (`_bucket`, `_sum`, `_count`).
    Histogram,
}

/// Every family the orchestrator exports: name, kind, help.
pub const FAMILIES: &[(&str, Kind, &str)] = &[
    (
        "orchestrator_http_requests_total",
        Kind::Counter,
        "HTTP requests answered, by method, route pattern and status.",
    ),
    (
        "orchestrator_http_malformed_requests_total",
        Kind::Counter,
        "Requests actix-http could not parse (a malformed request line or header), answered 400 \
         before any route: counted here rather than logged one line each.",
    ),
    (
        "orchestrator_http_request_duration_seconds",
        Kind::Histogram,
        "Time to answer an HTTP request (until its head), by method and route pattern.",
    ),
    (
        "orchestrator_grpc_requests_total",
        Kind::Counter,
        "gRPC calls, by method and final status code.",
    ),
    (
        "orchestrator_grpc_request_duration_seconds",
        Kind::Histogram,
        "Time until a gRPC answer starts (the whole call for unary RPCs), by method.",
    ),
    (
        "orchestrator_ws_connections",
        Kind::Gauge,
        "Open WebSocket connections.",
    ),
    (
        "orchestrator_grpc_subscriptions",
        Kind::Gauge,
        "Open gRPC Subscribe calls.",
    ),
    (
        "orchestrator_events_published_total",
        Kind::Counter,
        "Events that reached this instance's live feed, by event type.",
    ),
    (
        "orchestrator_events_delivered_total",
        Kind::Counter,
        "Events and audience updates sent to clients, by transport.",
    ),
    (
        "orchestrator_slow_consumer_disconnects_total",
        Kind::Counter,
        "Clients disconnected because their queue overflowed, by transport.",
    ),
    (
        "orchestrator_redis_command_duration_seconds",
        Kind::Histogram,
        "Redis round trips (commands, scripts, pipelines), by operation.",
    ),
    (
        "orchestrator_redis_command_errors_total",
        Kind::Counter,
        "Failed Redis round trips, by kind (timeout, io, other).",
    ),
    (
        "orchestrator_redis_breaker_open",
        Kind::Gauge,
        "1 while Redis is not answering and store operations fail fast.",
    ),
    (
        "orchestrator_redis_fail_fast_total",
        Kind::Counter,
        "Store operations refused without asking Redis (it was known to be down).",
    ),
    (
        "orchestrator_livekit_requests_total",
        Kind::Counter,
        "LiveKit RoomService calls, by method and outcome.",
    ),
    (
        "orchestrator_livekit_request_duration_seconds",
        Kind::Histogram,
        "LiveKit RoomService call latency, by method.",
    ),
    (
        "orchestrator_webhooks_total",
        Kind::Counter,
        "LiveKit webhooks received, by outcome.",
    ),
    (
        "orchestrator_reconciler_passes_total",
        Kind::Counter,
        "Reconciler passes, by outcome (completed, failed, lost_lease, standby).",
    ),
    (
        "orchestrator_reconciler_pass_duration_seconds",
        Kind::Histogram,
        "How long completed reconciler passes took.",
    ),
    (
        "orchestrator_reconciler_streams_checked_total",
        Kind::Counter,
        "Live streams the reconciler compared with LiveKit.",
    ),
    (
        "orchestrator_reconciler_repairs_total",
        Kind::Counter,
        "Events the reconciler recorded to heal drift.",
    ),
    (
        "orchestrator_reconciler_lease_changes_total",
        Kind::Counter,
        "Reconciler lease changes on this instance (acquired, lost, released).",
    ),
    (
        "orchestrator_reconciler_leader",
        Kind::Gauge,
        "1 while this instance holds the reconciler lease.",
    ),
    (
        "orchestrator_reconciler_last_pass_timestamp_seconds",
        Kind::Gauge,
        "Unix time of this instance's last completed reconciler pass.",
    ),
    (
        "orchestrator_reconciler_lag_seconds",
        Kind::Gauge,
        "On the lease holder, the age of its last completed pass; 0 elsewhere.",
    ),
    (
        "orchestrator_ready",
        Kind::Gauge,
        "1 while this instance is ready (not draining, the store and LiveKit answer).",
    ),
];

/// The process's recorder, installed on first use.
///
/// # Errors
/// When another recorder was installed first (not by this function).
pub fn handle() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| install().map_err(|err| err.to_string()))
        .clone()
        .map_err(|err| anyhow::anyhow!("installing the metrics recorder: {err}"))
}

fn install() -> Result<PrometheusHandle, metrics_exporter_prometheus::BuildError> {
    let handle = PrometheusBuilder::new()
        .set_buckets(&LATENCY_BUCKETS)?
        .set_buckets_for_metric(
            Matcher::Full("orchestrator_reconciler_pass_duration_seconds".into()),
            &PASS_BUCKETS,
        )?
        .install_recorder()?;
    describe();
    Ok(handle)
}

fn describe() {
    for (name, kind, help) in FAMILIES {
        match kind {
            Kind::Counter => metrics::describe_counter!(*name, *help),
            Kind::Gauge => metrics::describe_gauge!(*name, *help),
            Kind::Histogram => {
                metrics::describe_histogram!(*name, metrics::Unit::Seconds, *help);
            }
        }
    }
    orchestrator_http::metrics::init();
}

/// Compacts histograms every few seconds until `stop`, so memory stays bounded when nobody
/// scrapes (rendering compacts too).
pub async fn upkeep(handle: PrometheusHandle, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(UPKEEP_EVERY);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => handle.run_upkeep(),
        }
    }
}
