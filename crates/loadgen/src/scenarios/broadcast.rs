//! `broadcast-golive`: a thousand streams, each with two auto-start outputs (HLS and an RTMP
//! restream) and an RTMP ingest, all set up before the clock starts; then every stream's
//! encoder starts publishing within `--go-live-within` (`POST /emulator/ingest` on the LiveKit
//! emulator, evenly spread, at most `-c` at once), and the clock runs until every output's
//! `active` state has arrived over WebSocket ([`super::golive`]).
//!
//! Measured: the time until all are active, each output's time from its encoder's start to
//! `active`, and the pace of the egress starts (the server's timestamps of the events that
//! record each egress) against the one the orchestrator was started with. Checked: every
//! output active and none failed (events and `GET /streams/:id/outputs`), one egress per
//! output (one egress id in its events, and the emulator's count: one start per output in
//! every room), starts no faster than the pace, and no error.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use tokio::sync::watch;

use super::golive::{Settled, StreamSeen, Watch, STREAMS_PER_CONNECTION};
use super::{setup_workers, Session};
use crate::api::{self, OutputDoc, DECLARED_OUTPUTS};
use crate::cli::Plan;
use crate::httpc::{Client, Endpoint};
use crate::progress::Progress;
use crate::report::{BroadcastReport, Correctness, Report};
use crate::servers::Launcher;
use crate::stats::{Errors, Latencies};

/// Starts above the pace by more than this share are a violation (the server's timestamps
/// are taken after LiveKit answers, so single starts may bunch a little).
const PACE_TOLERANCE: f64 = 1.1;
/// ... or by more than this many starts' spacing over the whole run, whichever allows more:
/// with few starts, the first and the last may each be a spacing late or early.
const PACE_SLACK_STARTS: u64 = 2;
/// Beyond twice the expected time, plus this, the scenario stops waiting.
const PATIENCE_SLACK: Duration = Duration::from_secs(30);

/// `broadcast-golive`.
///
/// # Errors
/// Deployment or set-up failures (streams, ingests, subscriptions).
pub async fn golive(plan: &Plan, launcher: &Launcher) -> anyhow::Result<Report> {
    let mut session = Session::open(plan, launcher, 1).await?;
    let endpoint = session.deployment.first().http.clone();
    let (emulator, pace) = session
        .deployment
        .emulator
        .as_ref()
        .map(|e| (e.endpoint.clone(), e.egress_starts_per_sec))
        .ok_or_else(|| anyhow!("broadcast-golive needs the LiveKit emulator's address"))?;
    let workers = setup_workers(plan);
    let streams = api::create_stream_docs(&endpoint, plan.streams as u64, workers, true).await?;
    let ids: Vec<String> = streams.iter().map(|s| s.id.clone()).collect();
    let keys = api::create_ingests(&endpoint, &ids, workers).await?;
    let base = Instant::now();
    let watches = subscribe_all(&endpoint, &ids, base).await?;

    let outputs = (ids.len() * DECLARED_OUTPUTS.len()) as u64;
    let patience = patience(plan, outputs, pace);
    let progress = Progress::start("go live".into(), "outputs settled", Some(patience));
    let settled = Arc::new(Settled::with_progress(progress.counters()));
    let (stop, stopped) = watch::channel(false);
    let followers: Vec<_> = watches
        .into_iter()
        .map(|w| tokio::spawn(w.follow(Arc::clone(&settled), stopped.clone())))
        .collect();
    session.start_clock();
    let clock = base.elapsed();
    let encoders = start_encoders(plan, &emulator, &keys, base, clock).await;
    let _ =
        tokio::time::timeout_at((base + clock + patience).into(), settled.reached(outputs)).await;
    let waited = base.elapsed() - clock;
    let _ = stop.send(true);
    let mut seen = Vec::with_capacity(ids.len());
    let mut errors = encoders.errors.clone();
    for follower in followers {
        let watch = follower.await.map_err(|err| anyhow!("follower: {err}"))?;
        seen.extend(watch.seen);
        errors.merge(&watch.errors);
    }
    progress.finish();

    let mut figures = figures(&seen, &encoders, clock, outputs);
    figures.egress_starts_per_sec = pace;
    let elapsed = if figures.active == outputs {
        Duration::from_secs_f64(figures.all_active_s)
    } else {
        waited
    };
    let mut report = session.report(elapsed);
    report.requests = encoders.answered;
    report.ok = encoders.ok;
    report.throughput_rps = round1(encoders.ok as f64 / figures.go_live_s.max(1e-3));
    report.latency_ms = encoders.latencies.summary();
    report.errors = errors.into();

    let read_back = ReadBack {
        outputs: api::outputs(&endpoint, &ids, workers).await?,
        rooms: api::egress_starts(
            &emulator,
            &streams
                .iter()
                .map(|s| s.room_name.clone())
                .collect::<Vec<_>>(),
        )
        .await?,
    };
    figures.emulator_starts = read_back.rooms.iter().sum();
    figures.rooms_not_once = read_back
        .rooms
        .iter()
        .filter(|&&starts| starts != DECLARED_OUTPUTS.len() as u64)
        .count() as u64;
    report.correctness = check(&ids, &seen, &figures, &read_back, &report);
    report.broadcast = Some(figures);
    session.deployment.shutdown().await;
    Ok(report)
}

/// One connection per [`STREAMS_PER_CONNECTION`] streams, every subscription confirmed.
async fn subscribe_all(
    endpoint: &Endpoint,
    ids: &[String],
    base: Instant,
) -> anyhow::Result<Vec<Watch>> {
    let tasks: Vec<_> = ids
        .chunks(STREAMS_PER_CONNECTION)
        .map(|chunk| {
            let (endpoint, mut watch) = (endpoint.clone(), Watch::new(chunk, base));
            tokio::spawn(async move {
                let subscribed = watch.subscribe(&endpoint).await;
                (subscribed, watch)
            })
        })
        .collect();
    let mut watches = Vec::with_capacity(tasks.len());
    for task in tasks {
        let (subscribed, watch) = task.await.map_err(|err| anyhow!("subscribe: {err}"))?;
        if !subscribed {
            return Err(anyhow!(
                "cannot follow the streams over WebSocket: {}",
                watch.errors.describe()
            ));
        }
        watches.push(watch);
    }
    Ok(watches)
}

/// How long to wait for every output: twice the time the spread and the pace need, plus
/// [`PATIENCE_SLACK`] (the reconciler's pass, a retry).
fn patience(plan: &Plan, outputs: u64, pace: Option<u32>) -> Duration {
    let pace = f64::from(pace.unwrap_or(plan.egress_starts_per_sec).max(1));
    let expected = plan.go_live_within + Duration::from_secs_f64(outputs as f64 / pace);
    expected * 2 + PATIENCE_SLACK
}

/// The encoders' calls: when each was sent, and how they were answered.
#[derive(Debug, Default)]
struct Encoders {
    /// Per stream, when its encoder's call was sent.
    sent_at: Vec<Option<Duration>>,
    latencies: Latencies,
    errors: Errors,
    answered: u64,
    ok: u64,
}

/// Starts every stream's encoder, stream `i` at `clock + i × spread ÷ n`, on at most
/// `plan.connections` connections to the emulator.
async fn start_encoders(
    plan: &Plan,
    emulator: &Endpoint,
    keys: &[String],
    base: Instant,
    clock: Duration,
) -> Encoders {
    let keys = Arc::new(keys.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let spread = plan.go_live_within;
    let tasks: Vec<_> = (0..plan.connections.clamp(1, keys.len().max(1)))
        .map(|_| {
            let (keys, next) = (Arc::clone(&keys), Arc::clone(&next));
            let mut client = Client::new(emulator.clone(), plan.timeout);
            tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(key) = keys.get(i) else {
                        return done;
                    };
                    let due = clock + spread.mul_f64(i as f64 / keys.len() as f64);
                    tokio::time::sleep_until((base + due).into()).await;
                    let sent = base.elapsed();
                    let outcome = client.send(&api::encoder_publish_req(key)).await;
                    done.push((i, sent, base.elapsed() - sent, outcome));
                }
            })
        })
        .collect();
    let mut encoders = Encoders {
        sent_at: vec![None; keys.len()],
        ..Encoders::default()
    };
    for task in tasks {
        let Ok(done) = task.await else {
            encoders.errors.add("encoder_task_panicked");
            continue;
        };
        for (i, sent, latency, outcome) in done {
            encoders.sent_at[i] = Some(sent);
            match outcome {
                Ok(reply) => {
                    encoders.answered += 1;
                    encoders.latencies.record(latency);
                    if reply.is_success() {
                        encoders.ok += 1;
                    } else {
                        encoders
                            .errors
                            .add(format!("encoder_status_{}", reply.status));
                    }
                }
                Err(failure) => encoders.errors.add(format!("encoder_{}", failure.kind())),
            }
        }
    }
    encoders
}

/// The figures of the run, from what arrived (the emulator's counts are added later).
fn figures(
    seen: &[StreamSeen],
    encoders: &Encoders,
    clock: Duration,
    outputs: u64,
) -> BroadcastReport {
    let (mut to_live, mut to_active) = (Latencies::new(), Latencies::new());
    let (mut active, mut failed, mut last_active) = (0, 0, clock);
    let mut starts = Vec::new();
    for (stream, sent) in seen.iter().zip(&encoders.sent_at) {
        if let (Some(sent), Some(live)) = (sent, stream.live_at) {
            to_live.record(live.saturating_sub(*sent));
        }
        for output in &stream.outputs {
            if let Some(at) = output.active_at {
                active += 1;
                last_active = last_active.max(at);
                if let Some(sent) = sent {
                    to_active.record(at.saturating_sub(*sent));
                }
            }
            failed += u64::from(output.failed.is_some());
            starts.extend(output.started_ms);
        }
    }
    let sent: Vec<Duration> = encoders.sent_at.iter().flatten().copied().collect();
    let go_live = match (sent.iter().min(), sent.iter().max()) {
        (Some(first), Some(last)) => *last - *first,
        _ => Duration::ZERO,
    };
    starts.sort_unstable();
    BroadcastReport {
        outputs,
        active,
        failed,
        go_live_s: round3(go_live.as_secs_f64()),
        all_active_s: round3((last_active - clock).as_secs_f64()),
        to_live_ms: to_live.summary(),
        to_active_ms: to_active.summary(),
        egress_starts_per_sec: None,
        starts_recorded: starts.len() as u64,
        starts_per_s: round1(rate(&starts)),
        max_starts_in_1s: most_in_one_second(&starts),
        emulator_starts: 0,
        rooms_not_once: 0,
    }
}

/// The highest start rate over `starts` that still keeps to `pace`: [`PACE_TOLERANCE`] above
/// it, or [`PACE_SLACK_STARTS`] spacings over the run; `None` when too few starts to tell.
fn pace_ceiling(pace: u32, starts: u64) -> Option<f64> {
    let gaps = starts.checked_sub(1)?;
    let paced_gaps = gaps.checked_sub(PACE_SLACK_STARTS).filter(|&n| n > 0)?;
    let slack = gaps as f64 / paced_gaps as f64;
    Some(f64::from(pace) * slack.max(PACE_TOLERANCE))
}

/// (n − 1) ÷ (last − first) of sorted unix-ms times; 0 for fewer than two (or one instant).
fn rate(sorted_ms: &[i64]) -> f64 {
    match (sorted_ms.first(), sorted_ms.last()) {
        (Some(first), Some(last)) if last > first => {
            (sorted_ms.len() - 1) as f64 / ((last - first) as f64 / 1000.0)
        }
        _ => 0.0,
    }
}

/// The most of the sorted unix-ms times within any window [t, t + 1 s).
fn most_in_one_second(sorted_ms: &[i64]) -> u64 {
    let mut most = 0;
    let mut start = 0;
    for (end, at) in sorted_ms.iter().enumerate() {
        while sorted_ms[start] + 1000 <= *at {
            start += 1;
        }
        most = most.max(end + 1 - start);
    }
    most as u64
}

/// What the service and LiveKit hold after the run.
#[derive(Debug)]
struct ReadBack {
    /// `GET /streams/:id/outputs` of each stream.
    outputs: Vec<Vec<OutputDoc>>,
    /// The emulator's egress starts of each stream's room.
    rooms: Vec<u64>,
}

fn check(
    ids: &[String],
    seen: &[StreamSeen],
    figures: &BroadcastReport,
    read_back: &ReadBack,
    report: &Report,
) -> Correctness {
    let mut correctness = Correctness::default();
    let per_stream = DECLARED_OUTPUTS.len() as u64;
    correctness.expect(
        figures.active == figures.outputs,
        "every output's active state arrived",
        || format!("{} of {}", figures.active, figures.outputs),
    );
    correctness.expect(figures.failed == 0, "no output failed", || {
        format!("{} failed", figures.failed)
    });
    for ((id, outputs), stream) in ids.iter().zip(&read_back.outputs).zip(seen) {
        let held_active = outputs.len() == DECLARED_OUTPUTS.len()
            && outputs
                .iter()
                .all(|o| o.observed == "active" && o.egress_id.is_some());
        correctness.expect(
            held_active,
            "every output held active with its egress (GET /streams/:id/outputs)",
            || format!("stream {id}: {}", describe(outputs)),
        );
        let egresses: Vec<usize> = stream.outputs.iter().map(|o| o.egress_ids.len()).collect();
        correctness.expect(
            egresses.iter().all(|&n| n == 1),
            "one egress per output in its events",
            || format!("stream {id}: egress ids per output {egresses:?}"),
        );
    }
    correctness.expect(
        figures.emulator_starts == figures.outputs && figures.rooms_not_once == 0,
        format!("LiveKit started each output once ({per_stream} per room, the emulator's count)"),
        || {
            format!(
                "{} starts for {} outputs; {} rooms not {per_stream}",
                figures.emulator_starts, figures.outputs, figures.rooms_not_once
            )
        },
    );
    if let Some(ceiling) = figures
        .egress_starts_per_sec
        .and_then(|pace| pace_ceiling(pace, figures.starts_recorded))
    {
        correctness.expect(
            figures.starts_per_s <= ceiling,
            "egress starts no faster than the pace",
            || {
                format!(
                    "{:.1}/s against {}/s (at most {ceiling:.1}/s over {} starts)",
                    figures.starts_per_s,
                    figures.egress_starts_per_sec.unwrap_or_default(),
                    figures.starts_recorded
                )
            },
        );
    }
    correctness.expect(report.errors.total == 0, "no error", || {
        report.errors.by_kind.describe()
    });
    correctness
}

fn describe(outputs: &[OutputDoc]) -> String {
    let states: Vec<String> = outputs
        .iter()
        .map(|o| match &o.failure {
            Some(why) => format!("{} {} ({why})", o.id, o.observed),
            None => format!("{} {}", o.id, o.observed),
        })
        .collect();
    format!("[{}]", states.join(", "))
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_rate_spans_the_first_to_the_last_start() {
        assert_eq!(rate(&[]), 0.0);
        assert_eq!(rate(&[5]), 0.0);
        assert_eq!(rate(&[5, 5]), 0.0, "one instant has no rate");
        assert_eq!(rate(&[0, 50, 100, 150, 200]), 20.0);
        assert_eq!(rate(&[1_000, 1_005, 1_010]), 200.0);
    }

    #[test]
    fn the_pace_allows_ten_percent_or_two_spacings_over_the_run_whichever_is_more() {
        assert_eq!(pace_ceiling(20, 3), None, "two gaps: nothing to tell");
        assert_eq!(pace_ceiling(20, 4), Some(60.0), "three gaps, one must hold");
        let ten = pace_ceiling(20, 10).unwrap_or_default();
        assert!((ten - 20.0 * 9.0 / 7.0).abs() < 1e-9, "{ten}");
        let many = pace_ceiling(200, 2_000).unwrap_or_default();
        assert!((many - 220.0).abs() < 1e-9, "{many}");
    }

    #[test]
    fn the_busiest_second_is_counted_over_half_open_windows() {
        assert_eq!(most_in_one_second(&[]), 0);
        assert_eq!(most_in_one_second(&[7]), 1);
        let paced: Vec<i64> = (0..40).map(|i| i * 50).collect();
        assert_eq!(most_in_one_second(&paced), 20, "20/s: 0..950 in one window");
        assert_eq!(most_in_one_second(&[0, 10, 20, 2_000, 2_001]), 3);
    }

    #[test]
    fn patience_covers_the_spread_and_the_pace_twice_plus_slack() {
        let plan = crate::commands::smoke_plan(
            crate::cli::Scenario::BroadcastGolive,
            crate::servers::Backend::Memory,
        );
        let spread = plan.go_live_within.as_secs_f64();

        let waited = patience(&plan, 2_000, Some(200));

        let expected = Duration::from_secs_f64(2.0 * (spread + 2_000.0 / 200.0));
        assert_eq!(waited, expected + PATIENCE_SLACK);
    }

    fn seen(active_ms: [Option<u64>; 2], started_ms: [Option<i64>; 2]) -> StreamSeen {
        let mut stream = StreamSeen {
            live_at: Some(Duration::from_millis(1_020)),
            ..StreamSeen::default()
        };
        for (slot, output) in stream.outputs.iter_mut().enumerate() {
            output.active_at = active_ms[slot].map(Duration::from_millis);
            output.started_ms = started_ms[slot];
            output.egress_ids = started_ms[slot]
                .map(|_| vec![format!("EG_{slot}")])
                .unwrap_or_default();
        }
        stream
    }

    fn output(id: &str, observed: &str, egress: Option<&str>) -> OutputDoc {
        OutputDoc {
            id: id.into(),
            observed: observed.into(),
            egress_id: egress.map(str::to_owned),
            failure: None,
        }
    }

    fn report() -> Report {
        Report {
            scenario: "broadcast-golive".into(),
            backend: "memory".into(),
            started_at: String::new(),
            connections: 1,
            duration_s: 0.0,
            elapsed_s: 1.0,
            streams: 1,
            audience: 0,
            outputs_per_stream: 2,
            requests: 1,
            ok: 1,
            throughput_rps: 1.0,
            latency_ms: Default::default(),
            errors: Default::default(),
            prefill: None,
            servers: Vec::new(),
            redis: None,
            harness: None,
            emulator: None,
            fanout: None,
            reference: None,
            broadcast: None,
            correctness: Correctness::default(),
        }
    }

    fn clean_run() -> (Vec<StreamSeen>, BroadcastReport, ReadBack) {
        let seen = vec![seen([Some(10), Some(20)], [Some(0), Some(50)])];
        let figures = BroadcastReport {
            outputs: 2,
            active: 2,
            egress_starts_per_sec: Some(20),
            // As if many streams: the pace is checked within 10 %.
            starts_recorded: 200,
            starts_per_s: 20.0,
            emulator_starts: 2,
            ..BroadcastReport::default()
        };
        let read_back = ReadBack {
            outputs: vec![vec![
                output("hls", "active", Some("EG_0")),
                output("restream", "active", Some("EG_1")),
            ]],
            rooms: vec![2],
        };
        (seen, figures, read_back)
    }

    #[test]
    fn a_clean_run_passes_every_check() {
        let (seen, figures, read_back) = clean_run();

        let correctness = check(&["s".into()], &seen, &figures, &read_back, &report());

        assert!(correctness.is_ok(), "{:?}", correctness.violations);
        assert_eq!(correctness.checked.len(), 7);
    }

    #[test]
    fn a_second_start_of_an_output_is_a_violation_wherever_it_shows() {
        let (mut seen, mut figures, mut read_back) = clean_run();
        seen[0].outputs[1].egress_ids.push("EG_2".into());
        figures.emulator_starts = 3;
        figures.rooms_not_once = 1;
        read_back.rooms = vec![3];

        let correctness = check(&["s".into()], &seen, &figures, &read_back, &report());

        assert_eq!(
            correctness.violations.len(),
            2,
            "{:?}",
            correctness.violations
        );
        assert!(correctness.violations[0].starts_with("one egress per output"));
        assert!(correctness.violations[1].contains("3 starts for 2 outputs"));
    }

    #[test]
    fn an_output_not_active_a_failure_a_fast_pace_and_an_error_are_violations() {
        let (seen, mut figures, mut read_back) = clean_run();
        figures.active = 1;
        figures.failed = 1;
        figures.starts_per_s = 23.0;
        read_back.outputs[0][1] = output("restream", "failed", None);
        let mut report = report();
        report.errors.total = 1;

        let correctness = check(&["s".into()], &seen, &figures, &read_back, &report);

        let violated: Vec<&str> = correctness
            .violations
            .iter()
            .map(|v| v.split(':').next().unwrap_or_default())
            .collect();
        assert_eq!(
            violated,
            [
                "every output's active state arrived",
                "no output failed",
                "every output held active with its egress (GET /streams/",
                "egress starts no faster than the pace",
                "no error",
            ]
        );
    }

    #[test]
    fn figures_time_each_output_from_its_own_encoder_and_the_run_from_the_clock() {
        let clock = Duration::from_secs(1);
        let encoders = Encoders {
            sent_at: vec![
                Some(Duration::from_millis(1_000)),
                Some(Duration::from_millis(1_500)),
            ],
            ..Encoders::default()
        };
        let streams = [
            seen([Some(1_100), Some(1_200)], [Some(0), Some(100)]),
            seen([Some(1_700), None], [Some(200), None]),
        ];

        let figures = figures(&streams, &encoders, clock, 4);

        assert_eq!((figures.outputs, figures.active, figures.failed), (4, 3, 0));
        assert_eq!(figures.go_live_s, 0.5);
        assert_eq!(figures.all_active_s, 0.7);
        assert_eq!(figures.to_active_ms.count, 3);
        assert!(
            (figures.to_active_ms.max - 200.0).abs() < 0.5,
            "the slowest: 1,700 − 1,500 ms (histogram precision)"
        );
        assert_eq!(figures.to_live_ms.count, 2);
        assert_eq!(figures.starts_per_s, 10.0);
        assert_eq!(figures.max_starts_in_1s, 3);
    }
}
