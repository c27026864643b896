//! `loadgen sweep`: series of runs drawn as charts into `--out` (default `docs/benchmarks`):
//!
//! - `<backend>-http-throughput.svg`, `<backend>-http-p99.svg`: the HTTP scenarios against
//!   connections;
//! - `<backend>-audience.svg`: hot-stream joins, GET and state against the audience already in
//!   the stream (0 → 100,000 by default);
//! - `<backend>-fanout-latency.svg`: delivery latency distribution to the first and the last
//!   subscriber, WebSocket and gRPC.
//!
//! Every run's JSON line goes to `sweep-<backend>.jsonl` beside them.

use std::path::{Path, PathBuf};

use crate::charts::{line_chart, Axis, Scale, Series};
use crate::cli::{LoadArgs, Plan, Scenario, SweepArgs, SweepPart};
use crate::commands::publish;
use crate::scenarios::{self, Outcome};
use crate::servers::Launcher;

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

/// Runs the sweep; `Ok(false)` when a run violated correctness.
///
/// # Errors
/// When servers cannot be started or a chart cannot be written.
pub async fn sweep(args: SweepArgs) -> anyhow::Result<bool> {
    let launcher = args.target.launcher().await?;
    std::fs::create_dir_all(&args.out)?;
    let backend = args.backend.name();
    let sweep = Sweeper {
        jsonl: args.out.join(format!("sweep-{backend}.jsonl")),
        launcher,
        all_correct: true,
    };
    let _ = std::fs::remove_file(&sweep.jsonl);
    let mut sweep = sweep;
    let chart = |name: &str| args.out.join(format!("{backend}-{name}.svg"));
    if args.parts.contains(&SweepPart::Http) {
        http_part(
            &mut sweep,
            &args,
            &chart("http-throughput"),
            &chart("http-p99"),
        )
        .await?;
    }
    if args.parts.contains(&SweepPart::Audience) {
        audience_part(&mut sweep, &args, &chart("audience")).await?;
    }
    if args.parts.contains(&SweepPart::Fanout) {
        fanout_part(&mut sweep, &args, &chart("fanout-latency")).await?;
    }
    Ok(sweep.all_correct)
}

struct Sweeper {
    jsonl: PathBuf,
    launcher: Launcher,
    all_correct: bool,
}

impl Sweeper {
    async fn point(&mut self, plan: Plan) -> anyhow::Result<Outcome> {
        let outcome = scenarios::run(&plan, &self.launcher).await?;
        publish(&outcome.report, Some(&self.jsonl))?;
        self.all_correct &= outcome.report.correctness.is_ok();
        Ok(outcome)
    }
}

fn load_args(args: &SweepArgs, connections: usize) -> LoadArgs {
    LoadArgs {
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
    }
}

async fn http_part(
    sweep: &mut Sweeper,
    args: &SweepArgs,
    throughput_svg: &Path,
    p99_svg: &Path,
) -> anyhow::Result<()> {
    let mut throughput = Vec::new();
    let mut p99 = Vec::new();
    for scenario in HTTP_SCENARIOS {
        let mut rps_points = Vec::new();
        let mut p99_points = Vec::new();
        for &connections in &args.connections {
            let outcome = sweep
                .point(Plan::new(scenario, &load_args(args, connections)))
                .await?;
            let report = &outcome.report;
            rps_points.push((connections as f64, report.throughput_rps));
            p99_points.push((connections as f64, report.latency_ms.p99));
        }
        throughput.push(Series {
            name: scenario.name().into(),
            points: rps_points,
        });
        p99.push(Series {
            name: scenario.name().into(),
            points: p99_points,
        });
    }
    let backend = args.backend.name();
    let connections = Axis {
        scale: Scale::Log,
        label: "concurrent connections",
    };
    line_chart(
        throughput_svg,
        &format!("HTTP throughput (2xx/s), {backend} backend"),
        connections,
        Axis {
            scale: Scale::Log,
            label: "requests per second",
        },
        &throughput,
    )?;
    line_chart(
        p99_svg,
        &format!("HTTP p99 latency, {backend} backend"),
        connections,
        Axis {
            scale: Scale::Log,
            label: "p99 latency (ms)",
        },
        &p99,
    )
}

async fn audience_part(sweep: &mut Sweeper, args: &SweepArgs, svg: &Path) -> anyhow::Result<()> {
    let mut series = Vec::new();
    for scenario in AUDIENCE_SCENARIOS {
        let mut points = Vec::new();
        for &audience in &args.audiences {
            let mut load = load_args(args, args.audience_connections);
            load.audience = audience;
            load.streams = Some(1);
            let outcome = sweep.point(Plan::new(scenario, &load)).await?;
            points.push((audience as f64, outcome.report.throughput_rps));
        }
        series.push(Series {
            name: scenario.name().into(),
            points,
        });
    }
    line_chart(
        svg,
        &format!(
            "Throughput on one stream against its audience, {} connections, {} backend",
            args.audience_connections,
            args.backend.name()
        ),
        Axis {
            scale: Scale::LogPlusOne,
            label: "participants already in the stream",
        },
        Axis {
            scale: Scale::Log,
            label: "requests per second (2xx)",
        },
        &series,
    )
}

async fn fanout_part(sweep: &mut Sweeper, args: &SweepArgs, svg: &Path) -> anyhow::Result<()> {
    let mut series = Vec::new();
    for (scenario, transport) in [
        (Scenario::WsFanout, "WebSocket"),
        (Scenario::GrpcFanout, "gRPC"),
    ] {
        let mut load = load_args(args, 1);
        load.streams = Some(args.fanout_streams);
        let outcome = sweep.point(Plan::new(scenario, &load)).await?;
        if let Some((first, last)) = &outcome.delivery {
            series.push(Series {
                name: format!("{transport}, first subscriber"),
                points: first.percentile_curve(),
            });
            series.push(Series {
                name: format!("{transport}, last subscriber"),
                points: last.percentile_curve(),
            });
        }
    }
    line_chart(
        svg,
        &format!(
            "Delivery latency, {} streams × {} subscribers, {} events/s, {} backend",
            args.fanout_streams,
            args.subscribers,
            args.event_rate,
            args.backend.name()
        ),
        Axis {
            scale: Scale::PercentileTail,
            label: "percentile",
        },
        Axis {
            scale: Scale::Log,
            label: "event timestamp → arrival (ms)",
        },
        &series,
    )
}
