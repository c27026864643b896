//! One scenario's result: the JSON line (`--json FILE` appends it) and the human table.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use crate::api::Prefill;
use crate::procstat::ProcSample;
use crate::seq::SeqCounts;
use crate::stats::{Errors, LatencySummary};

/// Everything one scenario run measured. Serialized as one JSON line; see the crate docs for
/// the meaning of each field.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Scenario name, e.g. `http-get`.
    pub scenario: String,
    /// `memory` or `redis`.
    pub backend: String,
    /// When the measurement started (RFC 3339).
    pub started_at: String,
    /// Concurrent HTTP connections of the measured loop (publishers for fan-out).
    pub connections: usize,
    /// Configured measuring time, seconds.
    pub duration_s: f64,
    /// Measured time, seconds (from the common start to the last answer).
    pub elapsed_s: f64,
    /// Streams the scenario used.
    pub streams: usize,
    /// Participants pre-joined into each stream before the clock started.
    pub audience: u64,
    /// Outputs each stream declared (`--with-outputs`, broadcast-golive).
    #[serde(skip_serializing_if = "is_zero")]
    pub outputs_per_stream: usize,
    /// Requests answered (any status).
    pub requests: u64,
    /// Requests answered 2xx.
    pub ok: u64,
    /// 2xx answers per second.
    pub throughput_rps: f64,
    /// Request latency (every answered request), ms.
    pub latency_ms: LatencySummary,
    /// Failures.
    pub errors: ErrorReport,
    /// The audience pre-fill, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefill: Option<Prefill>,
    /// Cost of each orchestrator instance the harness started.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<ServerCost>,
    /// Cost of the Redis the harness started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<ProcessCost>,
    /// Cost of the harness itself (it shares the machine with the servers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub harness: Option<ProcessCost>,
    /// Cost of the standalone LiveKit emulator the harness started (broadcast scenarios).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emulator: Option<ProcessCost>,
    /// Fan-out measurements (ws-fanout, grpc-fanout, cross-instance).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fanout: Option<FanoutReport>,
    /// `redis-benchmark -t get` in the same run (http-get on Redis).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
    /// Going live with outputs (broadcast-golive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broadcast: Option<BroadcastReport>,
    /// What the service holds versus what it acknowledged.
    pub correctness: Correctness,
}

/// Failures, in total and by kind.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ErrorReport {
    /// All failures.
    pub total: u64,
    /// `status_<code>[_<error code>]`, `timeout`, `connect`, `io`, `ws_closed`, ….
    pub by_kind: Errors,
}

impl From<Errors> for ErrorReport {
    fn from(errors: Errors) -> Self {
        Self {
            total: errors.total(),
            by_kind: errors,
        }
    }
}

/// What an orchestrator process cost.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ServerCost {
    /// From spawn to the first 200 of `/health/ready`, ms.
    pub start_to_ready_ms: f64,
    /// Resident memory right after it became ready, KiB.
    pub idle_rss_kb: u64,
    /// Peak resident memory (VmHWM) at the end, KiB.
    pub peak_rss_kb: u64,
    /// CPU seconds (user + system) spent during the measured window.
    pub cpu_s: f64,
    /// `cpu_s` / elapsed: cores kept busy.
    pub cpu_cores: f64,
}

/// What a helper process (Redis) cost.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ProcessCost {
    /// Peak resident memory, KiB.
    pub peak_rss_kb: u64,
    /// CPU seconds during the measured window.
    pub cpu_s: f64,
}

impl ProcessCost {
    /// The cost between two samples.
    pub fn between(before: ProcSample, after: ProcSample) -> Self {
        Self {
            peak_rss_kb: after.peak_rss_kb,
            cpu_s: round3(after.cpu_s - before.cpu_s),
        }
    }
}

/// Fan-out measurements.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FanoutReport {
    /// `websocket` or `grpc`.
    pub transport: String,
    /// Subscriptions requested (streams × subscribers per stream).
    pub subscribers: u64,
    /// Subscriptions established.
    pub connected: u64,
    /// Events the publisher had acknowledged.
    pub events: u64,
    /// Acknowledged events per second of the publishing window.
    pub events_per_s: f64,
    /// First arrivals of events at subscribers.
    pub deliveries: u64,
    /// Deliveries per second over the publishing window and the drain.
    pub deliveries_per_s: f64,
    /// Lost, duplicated and out-of-order events over all subscriptions.
    pub seq: SeqCounts,
    /// Event timestamp → arrival, every delivery, ms.
    pub delivery_ms: LatencySummary,
    /// Event timestamp → arrival at the first subscriber of each event, ms.
    pub first_subscriber_ms: LatencySummary,
    /// Event timestamp → arrival at the last subscriber of each event, ms.
    pub last_subscriber_ms: LatencySummary,
    /// (percentile, ms) points of `first_subscriber_ms`, for charts.
    pub first_subscriber_curve: Vec<(f64, f64)>,
    /// (percentile, ms) points of `last_subscriber_ms`, for charts.
    pub last_subscriber_curve: Vec<(f64, f64)>,
    /// Server RSS growth per idle subscription, bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_per_subscriber_bytes: Option<f64>,
    /// Cross-instance only: the same split by where the subscribers were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross: Option<CrossReport>,
}

/// Subscribers on the publishing instance (local) versus on the other one (remote).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct CrossReport {
    /// Last-subscriber latency on the instance that made the change, ms.
    pub local_last_ms: LatencySummary,
    /// Last-subscriber latency on the other instance, ms.
    pub remote_last_ms: LatencySummary,
    /// remote p99 − local p99, ms: what crossing instances adds.
    pub added_p99_ms: f64,
}

/// Streams going live with outputs: how fast every output became active, and how the egress
/// starts were paced.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BroadcastReport {
    /// Outputs expected to start (streams × outputs per stream).
    pub outputs: u64,
    /// Outputs whose `active` state arrived (WebSocket events).
    pub active: u64,
    /// Outputs that reported `failed`.
    pub failed: u64,
    /// From the first encoder's start to the last one's, s (asked: `--go-live-within`).
    pub go_live_s: f64,
    /// From the first encoder's start to the last output's `active` event, s.
    pub all_active_s: f64,
    /// A stream's encoder start → its ingest `publishing` event, ms.
    pub to_live_ms: LatencySummary,
    /// A stream's encoder start → each of its outputs' `active` event, ms.
    pub to_active_ms: LatencySummary,
    /// The pace the orchestrator was started with (unknown for running servers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress_starts_per_sec: Option<u32>,
    /// Outputs whose egress was recorded (an event carried its id): the starts timed.
    pub starts_recorded: u64,
    /// Egress starts per second reached: (starts − 1) ÷ (last − first), from the server's
    /// timestamps of the events recording each egress.
    pub starts_per_s: f64,
    /// The most egress starts recorded within any one second.
    pub max_starts_in_1s: u64,
    /// Egresses the LiveKit emulator started, summed over the rooms.
    pub emulator_starts: u64,
    /// Rooms whose emulator count is not one start per output.
    pub rooms_not_once: u64,
}

/// The Redis ceiling measured in the same run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Reference {
    /// `redis-benchmark -t get` at the same concurrency, requests/s.
    pub redis_benchmark_get_rps: f64,
    /// This scenario's throughput / that ceiling.
    pub ratio: f64,
}

/// The correctness check after the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Correctness {
    /// What was compared.
    pub checked: Vec<String>,
    /// Every mismatch found; empty when correct.
    pub violations: Vec<String>,
}

impl Correctness {
    /// Records a check and, when `ok` is false, its violation.
    pub fn expect(
        &mut self,
        ok: bool,
        what: impl Into<String>,
        violation: impl FnOnce() -> String,
    ) {
        let what = what.into();
        if !ok {
            self.violations.push(format!("{what}: {}", violation()));
        }
        if !self.checked.contains(&what) {
            self.checked.push(what);
        }
    }

    /// No violation.
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

fn is_zero(value: &usize) -> bool {
    *value == 0
}

impl Report {
    /// The JSON line.
    pub fn json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|err| format!("{{\"error\":\"{err}\"}}"))
    }

    /// Appends the JSON line to `path`.
    ///
    /// # Errors
    /// When the file cannot be opened or written.
    pub fn append_to(&self, path: &Path) -> anyhow::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        writeln!(file, "{}", self.json_line())?;
        Ok(())
    }

    /// The human table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let outputs = match self.outputs_per_stream {
            0 => String::new(),
            n => format!(", {n} outputs each"),
        };
        let _ = writeln!(
            out,
            "== {} ({}, {} connections, {:.1} s, {} streams{outputs}, audience {})",
            self.scenario,
            self.backend,
            self.connections,
            self.elapsed_s,
            self.streams,
            self.audience
        );
        let row = |out: &mut String, key: &str, value: String| {
            let _ = writeln!(out, "  {key:<16}{value}");
        };
        row(
            &mut out,
            "throughput",
            format!(
                "{:.0} req/s  ({} ok of {} answered)",
                self.throughput_rps, self.ok, self.requests
            ),
        );
        row(&mut out, "latency ms", latency(&self.latency_ms));
        row(
            &mut out,
            "errors",
            format!("{} ({})", self.errors.total, self.errors.by_kind.describe()),
        );
        self.resource_rows(&mut out);
        if let Some(fanout) = &self.fanout {
            fanout_rows(&mut out, fanout);
        }
        if let Some(broadcast) = &self.broadcast {
            broadcast_rows(&mut out, broadcast);
        }
        let verdict = if self.correctness.is_ok() {
            format!("ok ({})", self.correctness.checked.join("; "))
        } else {
            format!("VIOLATED: {}", self.correctness.violations.join("; "))
        };
        row(&mut out, "correctness", verdict);
        out
    }
    /// Prefill, per-process resources and the reference rows.
    fn resource_rows(&self, out: &mut String) {
        let row = |out: &mut String, key: &str, value: String| {
            let _ = writeln!(out, "  {key:<16}{value}");
        };
        if let Some(prefill) = &self.prefill {
            row(
                out,
                "prefill",
                format!(
                    "{} joins in {:.1} s ({:.0}/s)",
                    prefill.joins, prefill.seconds, prefill.rate
                ),
            );
        }
        for (i, server) in self.servers.iter().enumerate() {
            row(
                out,
                &format!("server {}", ["A", "B"].get(i).unwrap_or(&"?")),
                format!(
                    "peak RSS {:.1} MiB, CPU {:.2} s ({:.2} cores), ready in {:.0} ms, idle RSS {:.1} MiB",
                    mib(server.peak_rss_kb),
                    server.cpu_s,
                    server.cpu_cores,
                    server.start_to_ready_ms,
                    mib(server.idle_rss_kb)
                ),
            );
        }
        if let Some(redis) = &self.redis {
            row(
                out,
                "redis",
                format!(
                    "peak RSS {:.1} MiB, CPU {:.2} s",
                    mib(redis.peak_rss_kb),
                    redis.cpu_s
                ),
            );
        }
        if let Some(emulator) = &self.emulator {
            row(
                out,
                "emulator",
                format!(
                    "peak RSS {:.1} MiB, CPU {:.2} s",
                    mib(emulator.peak_rss_kb),
                    emulator.cpu_s
                ),
            );
        }
        if let Some(harness) = &self.harness {
            row(
                out,
                "loadgen",
                format!("CPU {:.2} s (the client shares the machine)", harness.cpu_s),
            );
        }
        if let Some(reference) = &self.reference {
            row(
                out,
                "reference",
                format!(
                    "redis-benchmark GET {:.0} req/s at {} connections → {:.1}%",
                    reference.redis_benchmark_get_rps,
                    self.connections,
                    reference.ratio * 100.0
                ),
            );
        }
    }
}

fn fanout_rows(out: &mut String, fanout: &FanoutReport) {
    let mut row = |key: &str, value: String| {
        let _ = writeln!(out, "  {key:<16}{value}");
    };
    row(
        "fan-out",
        format!(
            "{} {} subscribers ({} connected), {} events ({:.0}/s), {} deliveries ({:.0}/s)",
            fanout.subscribers,
            fanout.transport,
            fanout.connected,
            fanout.events,
            fanout.events_per_s,
            fanout.deliveries,
            fanout.deliveries_per_s
        ),
    );
    row(
        "seq",
        format!(
            "lost {}, duplicated {}, out of order {}",
            fanout.seq.lost, fanout.seq.duplicated, fanout.seq.out_of_order
        ),
    );
    row("first sub ms", latency(&fanout.first_subscriber_ms));
    row("last sub ms", latency(&fanout.last_subscriber_ms));
    if let Some(bytes) = fanout.rss_per_subscriber_bytes {
        row("RSS/subscriber", format!("{:.1} KiB", bytes / 1024.0));
    }
    if let Some(cross) = &fanout.cross {
        row("local last ms", latency(&cross.local_last_ms));
        row("remote last ms", latency(&cross.remote_last_ms));
        row("cross adds", format!("{:.1} ms at p99", cross.added_p99_ms));
    }
}

fn broadcast_rows(out: &mut String, broadcast: &BroadcastReport) {
    let mut row = |key: &str, value: String| {
        let _ = writeln!(out, "  {key:<16}{value}");
    };
    row(
        "outputs",
        format!(
            "{} of {} active, {} failed; all active {:.2} s after the first encoder (encoders over {:.2} s)",
            broadcast.active,
            broadcast.outputs,
            broadcast.failed,
            broadcast.all_active_s,
            broadcast.go_live_s
        ),
    );
    row("to live ms", latency(&broadcast.to_live_ms));
    row("to active ms", latency(&broadcast.to_active_ms));
    let pace = broadcast
        .egress_starts_per_sec
        .map_or_else(|| "the server's".to_owned(), |pace| format!("{pace}/s"));
    row(
        "egress starts",
        format!(
            "{} timed, {:.1}/s reached (paced to {pace}), at most {} in one second; emulator counted {}, {} rooms not once per output",
            broadcast.starts_recorded,
            broadcast.starts_per_s,
            broadcast.max_starts_in_1s,
            broadcast.emulator_starts,
            broadcast.rooms_not_once
        ),
    );
}

fn latency(summary: &LatencySummary) -> String {
    format!(
        "p50 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  (n={})",
        summary.p50, summary.p99, summary.p999, summary.max, summary.count
    )
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let mut errors = Errors::default();
        errors.add_n("status_503_store_unavailable", 3);
        Report {
            scenario: "http-join-hot".into(),
            backend: "redis".into(),
            started_at: "2025-01-01T00:00:00Z".into(),
            connections: 64,
            duration_s: 8.0,
            elapsed_s: 8.01,
            streams: 1,
            audience: 0,
            outputs_per_stream: 0,
            requests: 1203,
            ok: 1200,
            throughput_rps: 150.0,
            latency_ms: LatencySummary::default(),
            errors: errors.into(),
            prefill: None,
            servers: vec![ServerCost::default()],
            redis: None,
            harness: None,
            emulator: None,
            fanout: None,
            reference: None,
            broadcast: None,
            correctness: Correctness::default(),
        }
    }

    #[test]
    fn the_json_line_is_one_line_with_the_documented_fields() {
        let line = report().json_line();

        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["scenario"], "http-join-hot");
        assert_eq!(value["throughput_rps"], 150.0);
        assert_eq!(value["errors"]["total"], 3);
        assert_eq!(
            value["errors"]["by_kind"]["status_503_store_unavailable"],
            3
        );
        for field in ["p50", "p99", "p999", "max", "mean", "count"] {
            assert!(
                value["latency_ms"].get(field).is_some(),
                "latency_ms.{field}"
            );
        }
        assert!(value["servers"][0].get("peak_rss_kb").is_some());
        assert!(value["servers"][0].get("cpu_s").is_some());
        assert_eq!(value["correctness"]["violations"], serde_json::json!([]));
    }

    #[test]
    fn absent_parts_are_left_out_of_the_json_line() {
        let mut report = report();
        report.servers.clear();

        let value: serde_json::Value = serde_json::from_str(&report.json_line()).unwrap();

        for absent in [
            "servers",
            "redis",
            "harness",
            "emulator",
            "fanout",
            "reference",
            "prefill",
            "broadcast",
            "outputs_per_stream",
        ] {
            assert!(value.get(absent).is_none(), "{absent} should be absent");
        }
    }

    #[test]
    fn a_violation_is_recorded_once_per_check_and_shown_in_the_table() {
        let mut report = report();
        report
            .correctness
            .expect(true, "created streams readable", String::new);
        report
            .correctness
            .expect(false, "activeParticipants = 2xx joins", || {
                "1150 ≠ 1200".into()
            });

        assert!(!report.correctness.is_ok());
        assert_eq!(report.correctness.checked.len(), 2);
        let table = report.table();
        assert!(
            table.contains("VIOLATED: activeParticipants = 2xx joins: 1150 ≠ 1200"),
            "{table}"
        );
        assert!(table.contains("status_503_store_unavailable=3"), "{table}");
    }

    #[test]
    fn a_broadcast_run_shows_its_outputs_pace_and_emulator() {
        let mut report = report();
        report.outputs_per_stream = 2;
        report.emulator = Some(ProcessCost {
            peak_rss_kb: 20_480,
            cpu_s: 1.5,
        });
        report.broadcast = Some(BroadcastReport {
            outputs: 2000,
            active: 2000,
            go_live_s: 0.99,
            all_active_s: 10.4,
            egress_starts_per_sec: Some(200),
            starts_recorded: 2000,
            starts_per_s: 199.8,
            max_starts_in_1s: 200,
            emulator_starts: 2000,
            ..BroadcastReport::default()
        });

        let table = report.table();
        let value: serde_json::Value = serde_json::from_str(&report.json_line()).unwrap();

        assert!(table.contains("1 streams, 2 outputs each"), "{table}");
        assert!(
            table.contains("2000 of 2000 active, 0 failed; all active 10.40 s"),
            "{table}"
        );
        assert!(
            table.contains("199.8/s reached (paced to 200/s)"),
            "{table}"
        );
        assert!(
            table.contains("emulator        peak RSS 20.0 MiB"),
            "{table}"
        );
        assert_eq!(value["outputs_per_stream"], 2);
        assert_eq!(value["broadcast"]["all_active_s"], 10.4);
        assert_eq!(value["broadcast"]["egress_starts_per_sec"], 200);
        assert_eq!(value["emulator"]["cpu_s"], 1.5);
    }

    #[test]
    fn json_lines_are_appended_not_overwritten() {
        let path =
            std::env::temp_dir().join(format!("loadgen-report-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);

        report().append_to(&path).unwrap();
        report().append_to(&path).unwrap();

        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        std::fs::remove_file(&path).unwrap();
    }
}
