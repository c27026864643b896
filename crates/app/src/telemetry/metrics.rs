//! The process's one metrics recorder: the Prometheus exporter behind the `metrics` facade the
//! adapters count through, rendered at `GET /metrics`.
//!
//! Installed once per process (several applications in one test process share it), with
//! histogram buckets for request latencies and for reconciler passes, and a description of
//! every family for the `# HELP` lines. [`FAMILIES`] is the catalogue: the table of docs/operations.md and
//! the metrics tests follow it.
//!
//! Every family is declared from the first scrape, and each has its series from the start
//! where its labels form a small closed set ([`Series`]): a dashboard or an alert on a rate
//! then sees 0 rather than nothing. The process's own metrics (`process_*`, Prometheus'
//! standard names) come from `/proc` ([`process`]), and `orchestrator_build_info` names the
//! build.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use orchestrator_domain::event::EventType;
use tokio_util::sync::CancellationToken;

use super::process;

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

/// One family of metrics the orchestrator exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    /// Its name.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// When its series appear.
    pub series: Series,
    /// The `# HELP` text.
    pub help: &'static str,
}

/// When a family's series appear at `/metrics`. Every family is declared (`# HELP`, `# TYPE`)
/// from the first scrape on; what differs is whether it has samples before anything happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// From the start: an unlabelled series at 0, or one per value of a small closed label
    /// set (outcomes, transports, kinds), histograms with empty buckets.
    FromStart,
    /// As traffic comes: the labels are open-ended (a route by method and status, a Redis
    /// operation), so zeros for every combination would be noise.
    WithTraffic,
    /// From the start on a Redis store; declared without series on the in-memory store.
    WithRedis,
}

/// Every family the orchestrator exports (the `process_*` ones read from `/proc`, on Linux).
pub const FAMILIES: &[Family] = &[
    Family {
        name: "orchestrator_http_requests_total",
        kind: Kind::Counter,
        series: Series::WithTraffic,
        help: "HTTP requests answered, by method, route pattern and status.",
    },
    Family {
        name: "orchestrator_http_malformed_requests_total",
        kind: Kind::Counter,
        series: Series::FromStart,
        help: "Requests actix-http could not parse (a malformed request line or header), answered 400 \
         before any route: counted here rather than logged one line each.",
    },
    Family {
        name: "orchestrator_http_request_duration_seconds",
        kind: Kind::Histogram,
        series: Series::WithTraffic,
        help: "Time to answer an HTTP request (until its head), by method and route pattern.",
    },
    Family {
        name: "orchestrator_grpc_requests_total",
        kind: Kind::Counter,
        series: Series::WithTraffic,
        help: "gRPC calls, by method and final status code.",
    },
    Family {
        name: "orchestrator_grpc_request_duration_seconds",
        kind: Kind::Histogram,
        series: Series::WithTraffic,
        help: "Time until a gRPC answer starts (the whole call for unary RPCs), by method.",
    },
    Family {
        name: "orchestrator_ws_connections",
        kind: Kind::Gauge,
        series: Series::FromStart,
        help: "Open WebSocket connections.",
    },
    Family {
        name: "orchestrator_grpc_subscriptions",
        kind: Kind::Gauge,
        series: Series::FromStart,
        help: "Open gRPC Subscribe calls.",
    },
    Family {
        name: "orchestrator_events_published_total",
        kind: Kind::Counter,
        series: Series::FromStart,
        help: "Events that reached this instance's live feed, by event type.",
    },
    Family {
        name: "orchestrator_events_delivered_total",
        kind: Kind::Counter,
        series: Series::FromStart,
        help: "Events and audience updates sent to clients, by transport.",
    },
    Family {
        name: "orchestrator_slow_consumer_disconnects_total",
        kind: Kind::Counter,
        series: Series::FromStart,
        help: "Clients disconnected because their queue overflowed, by transport.",
    },
    Family {
        name: "orchestrator_ws_protocol_errors_total",
        kind: Kind::Counter,
        series: Series::FromStart,
        help: "WebSocket connections closed because of what the client sent (a frame RFC 6455 \
         forbids, text that is not UTF-8, a binary or oversized message), by reason.",
    },
    Family {
        name: "orchestrator_redis_command_duration_seconds",
        kind: Kind::Histogram,
        series: Series::WithTraffic,
        help: "Redis round trips (commands, scripts, pipelines), by operation.",
    },
    Family {
        name: "orchestrator_redis_command_errors_total",
        kind: Kind::Counter,
        series: Series::WithRedis,
        help: "Failed Redis round trips, by kind (timeout, io, other).",
    },
    Family {
        name: "orchestrator_redis_breaker_open",
        kind: Kind::Gauge,
        series: Series::WithRedis,
        help: "1 while Redis is not answering and store operations fail fast.",
    },
    Family {
        name: "orchestrator_redis_fail_fast_total",
        kind: Kind::Counter,
        series: Series::WithRedis,
        help: "Store operations refused without asking Redis (it was known to be down).",
    },
    Family {
        name: "orchestrator_livekit_requests_total",
        kind: Kind::Counter,
        series: Series::FromStart,
        help: "LiveKit RoomService calls, by method and outcome.",
    },
    Family {
        name: "orchestrator_livekit_request_duration_seconds",
        kind: Kind::Histogram,
        series: Series::FromStart,
        help: "LiveKit RoomService call latency, by method.",
    },
    Family {
        name: "orchestrator_webhooks_total",
        kind: Kind::Counter,
        series: Series::FromStart,
        help: "LiveKit webhooks received, by outcome.",
    },
    Family {
        name: "orchestrator_reconciler_passes_total",
        kind: Kind::Counter,
        series: Series::FromStart,
        help: "Reconciler passes, by outcome (completed, failed, lost_lease, standby).",
    },
    Family {
        name: "orchestrator_reconciler_pass_duration_seconds",
        kind: Kind::Histogram,
        series: Series::FromStart,
        help: "How long completed reconciler passes took.",
    },
    Family {
        name: "orchestrator_reconciler_streams_checked_total",
        kind: Kind::Counter,
        series: Series::FromStart,
        help: "Live streams the reconciler compared with LiveKit.",
    },
    Family {
        name: "orchestrator_reconciler_repairs_total",
        kind: Kind::Counter,
        series: Series::FromStart,
        help: "Events the reconciler recorded to heal drift.",
    },
    Family {
        name: "orchestrator_reconciler_lease_changes_total",
        kind: Kind::Counter,
        series: Series::FromStart,
        help: "Reconciler lease changes on this instance (acquired, lost, released).",
    },
    Family {
        name: "orchestrator_reconciler_leader",
        kind: Kind::Gauge,
        series: Series::FromStart,
        help: "1 while this instance holds the reconciler lease.",
    },
    Family {
        name: "orchestrator_reconciler_last_pass_timestamp_seconds",
        kind: Kind::Gauge,
        series: Series::FromStart,
        help: "Unix time of this instance's last completed reconciler pass.",
    },
    Family {
        name: "orchestrator_reconciler_lag_seconds",
        kind: Kind::Gauge,
        series: Series::FromStart,
        help: "On the lease holder, the age of its last completed pass; 0 elsewhere.",
    },
    Family {
        name: "orchestrator_output_transitions_total",
        kind: Kind::Counter,
        series: Series::FromStart,
        help: "Outputs whose observed state changed on this instance, by the state entered \
               (idle, starting, active, ending, complete, failed).",
    },
    Family {
        name: "orchestrator_egress_starts_total",
        kind: Kind::Counter,
        series: Series::FromStart,
        help: "Egresses this instance asked LiveKit for (one per claimed attempt), by outcome \
               (accepted, failed).",
    },
    Family {
        name: "orchestrator_output_retries_total",
        kind: Kind::Counter,
        series: Series::FromStart,
        help: "Output starts tried again after a failure (with backoff).",
    },
    Family {
        name: "orchestrator_ready",
        kind: Kind::Gauge,
        series: Series::FromStart,
        help: "1 while this instance is ready (not draining, the store and LiveKit answer).",
    },
    Family {
        name: "orchestrator_build_info",
        kind: Kind::Gauge,
        series: Series::FromStart,
        help: "Always 1; its labels name the build: version, profile (debug or release), os, arch.",
    },
    Family {
        name: "process_cpu_seconds_total",
        kind: Kind::Counter,
        series: Series::FromStart,
        help: "Total user and system CPU time spent in seconds.",
    },
    Family {
        name: "process_resident_memory_bytes",
        kind: Kind::Gauge,
        series: Series::FromStart,
        help: "Resident memory size in bytes.",
    },
    Family {
        name: "process_virtual_memory_bytes",
        kind: Kind::Gauge,
        series: Series::FromStart,
        help: "Virtual memory size in bytes.",
    },
    Family {
        name: "process_open_fds",
        kind: Kind::Gauge,
        series: Series::FromStart,
        help: "Number of open file descriptors (counted every few seconds, not at each scrape).",
    },
    Family {
        name: "process_max_fds",
        kind: Kind::Gauge,
        series: Series::FromStart,
        help: "Maximum number of open file descriptors.",
    },
    Family {
        name: "process_start_time_seconds",
        kind: Kind::Gauge,
        series: Series::FromStart,
        help: "Start time of the process since unix epoch in seconds.",
    },
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
    register();
    Ok(handle)
}

fn describe() {
    for family in FAMILIES {
        let (name, help) = (family.name, family.help);
        match family.kind {
            Kind::Counter => metrics::describe_counter!(name, help),
            Kind::Gauge => metrics::describe_gauge!(name, help),
            Kind::Histogram => metrics::describe_histogram!(name, metrics::Unit::Seconds, help),
        }
    }
}

/// The series present from the start ([`Series::FromStart`]): each adapter registers the
/// label values it owns; the app, what no single adapter does. (The Redis store registers
/// its own once connected: `startup::stores`.)
fn register() {
    orchestrator_http::metrics::register();
    orchestrator_ws::metered::register();
    orchestrator_grpc::metered::register();
    orchestrator_livekit::metered::register();
    orchestrator_reconciler::metered::register();
    crate::startup::register_broadcast_metrics();
    // Counted by whichever store holds the instance's live feed.
    for kind in EventType::ALL {
        metrics::counter!("orchestrator_events_published_total", "type" => kind.as_str())
            .increment(0);
    }
    metrics::counter!("orchestrator_http_malformed_requests_total").increment(0);
    metrics::gauge!("orchestrator_ready").increment(0.0);
    metrics::gauge!(
        "orchestrator_build_info",
        "version" => env!("CARGO_PKG_VERSION"),
        "profile" => if cfg!(debug_assertions) { "debug" } else { "release" },
        "os" => std::env::consts::OS,
        "arch" => std::env::consts::ARCH
    )
    .set(1.0);
}

/// What `GET /metrics` answers: the recorder's families, the process's own (`process_*`),
/// and a declaration of every family of [`FAMILIES`] without series yet, so a scraper and a
/// dashboard know every family from the first scrape.
pub fn render(handle: &PrometheusHandle) -> String {
    let mut text = handle.render();
    process::render(&mut text);
    declare_missing(&mut text, FAMILIES);
    text
}

/// Appends `# HELP` and `# TYPE` for each of `families` that `text` does not declare.
fn declare_missing(text: &mut String, families: &[Family]) {
    for family in families {
        let declared = text
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .any(|rest| rest.split(' ').next() == Some(family.name));
        if !declared {
            let kind = match family.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            let _ = write!(
                text,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n\n",
                name = family.name,
                help = family.help
            );
        }
    }
}

/// Every few seconds until `stop`: compacts histograms, so memory stays bounded when nobody
/// scrapes (rendering compacts too), and counts the open file descriptors off the request
/// path (their number grows with the connections).
pub async fn upkeep(handle: PrometheusHandle, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(UPKEEP_EVERY);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {
                handle.run_upkeep();
                let _ = tokio::task::spawn_blocking(process::count_open_fds).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAMILY: Family = Family {
        name: "orchestrator_things_total",
        kind: Kind::Counter,
        series: Series::WithTraffic,
        help: "Things.",
    };

    #[test]
    fn a_family_without_series_is_declared_with_its_help_and_type() {
        let mut text = String::from("# TYPE orchestrator_things_total_other counter\n");

        declare_missing(&mut text, &[FAMILY]);

        assert!(text.ends_with(
            "# HELP orchestrator_things_total Things.\n\
             # TYPE orchestrator_things_total counter\n\n"
        ));
    }

    #[test]
    fn a_family_the_recorder_rendered_is_not_declared_twice() {
        let rendered = "# HELP orchestrator_things_total Things.\n\
                        # TYPE orchestrator_things_total counter\n\
                        orchestrator_things_total 3\n\n";
        let mut text = rendered.to_owned();

        declare_missing(&mut text, &[FAMILY]);

        assert_eq!(text, rendered);
    }

    #[test]
    fn family_names_are_unique_and_follow_prometheus_conventions() {
        let mut names: Vec<&str> = FAMILIES.iter().map(|family| family.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FAMILIES.len(), "a family is listed twice");
        for family in FAMILIES {
            let counter = family.name.ends_with("_total");
            assert_eq!(counter, family.kind == Kind::Counter, "{}", family.name);
            if family.kind == Kind::Histogram {
                assert!(family.name.ends_with("_seconds"), "{}", family.name);
            }
        }
    }
}
