//! `loadgen sweep`: series of runs drawn as charts into `--out` (default `docs/benchmarks`):
//!
//! - `<backend>-http-throughput.svg`, `<backend>-http-p99.svg`: the HTTP scenarios against
//!   connections;
//! - `<backend>-audience.svg`: hot-stream joins, GET and state against the audience already in
//!   the stream (0 → 100,000 by default);
//! - `<backend>-fanout-latency.svg`: delivery latency distribution to the first and the last
//!   subscriber, WebSocket and gRPC.
//!
//! Each part's JSON lines go to `sweep-<backend>-<part>.jsonl` beside the charts, and the
//! charts are drawn from those files, so `--redraw` draws them again without measuring.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;

use crate::charts::{line_chart, Axis, Scale, Series};
use crate::cli::{LoadArgs, Plan, Scenario, SweepArgs, SweepPart};
use crate::commands::publish;
use crate::scenarios;

const HTTP_SCENARIOS: [Scenario; 5] = [
    Scenario::HttpGet,
    Scenario::HttpState,
    Scenario::HttpCreate,
    Scenario::HttpJoinSpread,
    Scenario::HttpJoinHot,
];

const AUDIENCE_SCENARIOS: [Scenario; 3] = [
    Scenario::HttpJoinHot,
    Scenario::HttpGet,
    Scenario::HttpState,
];

const FANOUT_SCENARIOS: [Scenario; 2] = [Scenario::WsFanout, Scenario::GrpcFanout];

/// Runs the sweep (unless `--redraw`) and draws its charts; `Ok(false)` when a run violated
/// correctness.
///
/// # Errors
/// When servers cannot be started, or a file cannot be read or written.
pub async fn sweep(args: SweepArgs) -> anyhow::Result<bool> {
    std::fs::create_dir_all(&args.out)?;
    let mut all_correct = true;
    if !args.redraw {
        let launcher = args.target.launcher().await?;
        for part in &args.parts {
            let file = jsonl(&args, *part);
            let _ = std::fs::remove_file(&file);
            for plan in plans(&args, *part) {
                let report = scenarios::run(&plan, &launcher).await?;
                publish(&report, Some(&file))?;
                all_correct &= report.correctness.is_ok();
            }
        }
    }
    for part in &args.parts {
        let lines = read_lines(&jsonl(&args, *part))?;
        draw(&args, *part, &lines)?;
    }
    Ok(all_correct)
}

fn jsonl(args: &SweepArgs, part: SweepPart) -> PathBuf {
    args.out.join(format!(
        "sweep-{}-{}.jsonl",
        args.backend.name(),
        part_name(part)
    ))
}

fn chart(args: &SweepArgs, name: &str) -> PathBuf {
    args.out.join(format!("{}-{name}.svg", args.backend.name()))
}

fn part_name(part: SweepPart) -> &'static str {
    match part {
        SweepPart::Http => "http",
        SweepPart::Audience => "audience",
        SweepPart::Fanout => "fanout",
    }
}

/// The runs of one part, in order.
fn plans(args: &SweepArgs, part: SweepPart) -> Vec<Plan> {
    let load = |connections: usize| LoadArgs {
        backend: args.backend,
        connections,
        duration: args.duration,
        streams: None,
        subscribers: args.subscribers,
        event_rate: args.event_rate,
        audience: 0,
        timeout: std::time::Duration::from_secs(5),
        grpc_streams_per_connection: 100,
        no_reference: true,
        with_outputs: false,
        egress_starts_per_sec: 200,
        go_live_within: std::time::Duration::from_secs(1),
    };
    match part {
        SweepPart::Http => HTTP_SCENARIOS
            .iter()
            .flat_map(|s| args.connections.iter().map(|c| Plan::new(*s, &load(*c))))
            .collect(),
        SweepPart::Audience => AUDIENCE_SCENARIOS
            .iter()
            .flat_map(|s| {
                args.audiences.iter().map(|audience| {
                    let mut one = load(args.audience_connections);
                    one.audience = *audience;
                    one.streams = Some(1);
                    Plan::new(*s, &one)
                })
            })
            .collect(),
        SweepPart::Fanout => FANOUT_SCENARIOS
            .iter()
            .map(|s| {
                let mut one = load(1);
                one.streams = Some(args.fanout_streams);
                Plan::new(*s, &one)
            })
            .collect(),
    }
}

fn read_lines(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {} (run the sweep first)", path.display()))?;
    text.lines()
        .map(|line| serde_json::from_str(line).context("a sweep line is not JSON"))
        .collect()
}

fn number(line: &Value, pointer: &str) -> f64 {
    line.pointer(pointer).and_then(Value::as_f64).unwrap_or(0.0)
}

/// One series per scenario: (x, y) read from each of its lines.
fn series_by_scenario(lines: &[Value], x: &str, y: &str) -> Vec<Series> {
    let mut series: Vec<Series> = Vec::new();
    for line in lines {
        let name = line["scenario"].as_str().unwrap_or("?");
        let point = (number(line, x), number(line, y));
        match series.iter_mut().find(|s| s.name == name) {
            Some(existing) => existing.points.push(point),
            None => series.push(Series {
                name: name.to_owned(),
                points: vec![point],
            }),
        }
    }
    series
}

fn draw(args: &SweepArgs, part: SweepPart, lines: &[Value]) -> anyhow::Result<()> {
    let backend = args.backend.name();
    let log = |label| Axis {
        scale: Scale::Log,
        label,
    };
    match part {
        SweepPart::Http => {
            line_chart(
                &chart(args, "http-throughput"),
                &format!("HTTP throughput (2xx/s), {backend} backend"),
                log("concurrent connections"),
                log("requests per second"),
                &series_by_scenario(lines, "/connections", "/throughput_rps"),
            )?;
            line_chart(
                &chart(args, "http-p99"),
                &format!("HTTP p99 latency, {backend} backend"),
                log("concurrent connections"),
                log("p99 latency (ms)"),
                &series_by_scenario(lines, "/connections", "/latency_ms/p99"),
            )
        }
        SweepPart::Audience => line_chart(
            &chart(args, "audience"),
            &format!("Throughput on one stream against its audience, {backend} backend"),
            Axis {
                scale: Scale::LogPlusOne,
                label: "participants already in the stream",
            },
            log("requests per second (2xx)"),
            &series_by_scenario(lines, "/audience", "/throughput_rps"),
        ),
        SweepPart::Fanout => line_chart(
            &chart(args, "fanout-latency"),
            &format!("Delivery latency (event timestamp → arrival), {backend} backend"),
            Axis {
                scale: Scale::PercentileTail,
                label: "percentile",
            },
            log("latency (ms)"),
            &fanout_series(lines),
        ),
    }
}

/// First- and last-subscriber curves of every fan-out line.
fn fanout_series(lines: &[Value]) -> Vec<Series> {
    let curve = |line: &Value, key: &str| -> Vec<(f64, f64)> {
        line["fanout"][key]
            .as_array()
            .map(|points| {
                points
                    .iter()
                    .filter_map(|p| Some((p[0].as_f64()?, p[1].as_f64()?)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut series = Vec::new();
    for line in lines {
        let fanout = &line["fanout"];
        let label = format!(
            "{}, {} subs, {:.0} deliveries/s",
            fanout["transport"].as_str().unwrap_or("?"),
            fanout["subscribers"],
            number(line, "/fanout/deliveries_per_s")
        );
        for (key, which) in [
            ("first_subscriber_curve", "first"),
            ("last_subscriber_curve", "last"),
        ] {
            series.push(Series {
                name: format!("{label}: {which} subscriber"),
                points: curve(line, key),
            });
        }
    }
    series
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_one_series_per_scenario() {
        let lines: Vec<Value> = [
            r#"{"scenario":"http-get","connections":1,"throughput_rps":100.0}"#,
            r#"{"scenario":"http-get","connections":4,"throughput_rps":350.0}"#,
            r#"{"scenario":"http-create","connections":1,"throughput_rps":20.0}"#,
        ]
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();

        let series = series_by_scenario(&lines, "/connections", "/throughput_rps");

        assert_eq!(series.len(), 2);
        assert_eq!(series[0].name, "http-get");
        assert_eq!(series[0].points, vec![(1.0, 100.0), (4.0, 350.0)]);
        assert_eq!(series[1].points, vec![(1.0, 20.0)]);
    }

    #[test]
    fn fanout_lines_give_a_first_and_a_last_curve() {
        let line: Value = serde_json::from_str(
            r#"{"scenario":"ws-fanout","fanout":{"transport":"websocket","subscribers":500,
            "deliveries_per_s":5000.0,"first_subscriber_curve":[[50.0,1.5],[99.0,3.0]],
            "last_subscriber_curve":[[50.0,9.0],[99.0,20.0]]}}"#,
        )
        .unwrap();

        let series = fanout_series(&[line]);

        assert_eq!(series.len(), 2);
        assert!(series[0].name.contains("first"), "{}", series[0].name);
        assert_eq!(series[1].points, vec![(50.0, 9.0), (99.0, 20.0)]);
    }

    #[test]
    fn each_part_plans_its_runs() {
        let args = SweepArgs {
            backend: crate::servers::Backend::Memory,
            connections: vec![1, 64],
            audiences: vec![0, 1000],
            audience_connections: 64,
            duration: std::time::Duration::from_secs(1),
            subscribers: 10,
            fanout_streams: 2,
            event_rate: 10.0,
            parts: vec![SweepPart::Http],
            redraw: false,
            out: PathBuf::from("/tmp"),
            target: crate::cli::TargetArgs {
                orchestrator: PathBuf::from("o"),
                emulator: None,
                redis_server: "r".into(),
                server_env: Vec::new(),
                url: None,
                grpc_url: None,
                url_b: None,
                grpc_url_b: None,
                emulator_url: None,
            },
        };

        assert_eq!(plans(&args, SweepPart::Http).len(), 10);
        let audience = plans(&args, SweepPart::Audience);
        assert_eq!(audience.len(), 6);
        assert!(audience.iter().all(|plan| plan.streams == 1));
        assert_eq!(plans(&args, SweepPart::Fanout).len(), 2);
    }
}
