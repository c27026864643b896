//! Fan-out: `ws-fanout`, `grpc-fanout` and `cross-instance`.
//!
//! Set-up: `--streams` streams, each followed by `--subscribers` subscriptions from its current
//! seq (cross-instance: every other one on instance B). With all of them connected and idle,
//! the server's RSS growth per subscription is read. Then one publisher per stream PATCHes its
//! metadata at `--event-rate / --streams` per second for `--duration` (each PATCH is one
//! `stream_updated` event), on instance A. Afterwards every subscriber must receive every event
//! up to the stream's final seq exactly once and in order (10 s of drain at most), and each
//! stream's final seq must be its start plus the acknowledged PATCHes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::{setup_workers, Session};
use crate::api;
use crate::cli::{Plan, Scenario};
use crate::httpc::{Client, Endpoint};
use crate::load::status_kind;
use crate::procstat;
use crate::progress::Progress;
use crate::report::{CrossReport, FanoutReport, Report};
use crate::seq::{DeliveryBook, SeqCounts};
use crate::servers::Launcher;
use crate::stats::{Errors, Latencies};
use crate::subscriber::{Assignment, Control, Subscriber};
use crate::{grpc, ws};

/// How long subscribers may take to catch up once publishing stopped.
const DRAIN: Duration = Duration::from_secs(10);
/// Subscriptions being opened at once.
const CONNECTS_IN_FLIGHT: usize = 256;
/// Let the server settle before reading its RSS with every subscriber idle.
const SETTLE: Duration = Duration::from_millis(500);

/// `ws-fanout`, `grpc-fanout` and `cross-instance`.
///
/// # Errors
/// Deployment or set-up failures.
pub async fn run(plan: &Plan, launcher: &Launcher) -> anyhow::Result<Report> {
    let cross = plan.scenario == Scenario::CrossInstance;
    let mut session = Session::open(plan, launcher, if cross { 2 } else { 1 }).await?;
    enough_sockets(&session, (plan.streams * plan.subscribers) as u64)?;
    let publisher = session.deployment.first().http.clone();
    let workers = setup_workers(plan);
    let ids = api::create_streams(&publisher, plan.streams as u64, workers).await?;
    let prefill = api::prefill(&publisher, &ids, plan.audience, workers).await?;
    let start_seqs: Vec<u64> = api::states(&publisher, &ids, workers)
        .await?
        .iter()
        .map(|state| state.seq)
        .collect();
    let rss_before = total_rss_kb(&session);
    let mut crowd = Crowd::spawn(&session, plan, &ids, &start_seqs)?;
    crowd.wait_connected().await;
    tokio::time::sleep(SETTLE).await;
    let rss_per_subscriber = rss_before
        .zip(total_rss_kb(&session))
        .filter(|_| crowd.connected > 0)
        .map(|(before, after)| (after as f64 - before as f64) * 1024.0 / crowd.connected as f64);

    session.start_clock();
    let published_at = Instant::now();
    let published = publish(&publisher, &ids, plan).await;
    let finals: Vec<u64> = api::states(&publisher, &ids, workers)
        .await?
        .iter()
        .map(|state| state.seq)
        .collect();
    let subscribers = crowd.drain(Arc::new(finals.clone())).await;
    let delivery_window = published_at.elapsed();

    let mut report = session.load_report(&published.as_load_result());
    report.connections = ids.len();
    report.prefill = prefill;
    let summary = Summary::of(&subscribers, &finals, cross);
    report.errors = {
        let mut errors = published.errors.clone();
        errors.merge(&summary.errors);
        errors.into()
    };
    check(
        &mut report.correctness,
        &summary,
        &published,
        &start_seqs,
        &finals,
        crowd.total,
    );
    report.fanout = Some(summary.report(
        plan,
        &crowd,
        &published,
        delivery_window,
        rss_per_subscriber,
    ));
    session.deployment.shutdown().await;
    Ok(report)
}

/// Sockets the harness and the servers need beside the subscriptions (set-up, publishers,
/// listeners, Redis connections).
const SPARE_SOCKETS: u64 = 256;

/// Refuses a run whose subscriptions cannot all be open at once: a server at its open-files
/// limit stops accepting connections, which would be measured as a hang, not reported as such.
fn enough_sockets(session: &Session, subscriptions: u64) -> anyhow::Result<()> {
    let needed = subscriptions + SPARE_SOCKETS;
    let (own, _hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    if own < needed {
        bail!("{subscriptions} subscriptions need {needed} open files but loadgen may open {own}: raise `ulimit -n`");
    }
    let instances = session.deployment.instances.len() as u64;
    for instance in &session.deployment.instances {
        let limit = instance
            .process
            .as_ref()
            .and_then(|p| procstat::open_files_limit(p.pid));
        let per_instance = subscriptions.div_ceil(instances) + SPARE_SOCKETS;
        if let Some(limit) = limit.filter(|limit| *limit < per_instance) {
            bail!(
                "{subscriptions} subscriptions need {per_instance} open files per server but it may open {limit}: raise the hard limit (`ulimit -Hn`, as root)"
            );
        }
    }
    Ok(())
}

/// Resident memory of every orchestrator started here, KiB.
fn total_rss_kb(session: &Session) -> Option<u64> {
    session
        .deployment
        .instances
        .iter()
        .map(|instance| instance.sample().map(|s| s.rss_kb))
        .sum()
}

/// The subscribers of a run.
struct Crowd {
    tasks: Vec<JoinHandle<Subscriber>>,
    ready: mpsc::UnboundedReceiver<bool>,
    finals: watch::Sender<Option<Arc<Vec<u64>>>>,
    give_up: watch::Sender<bool>,
    total: u64,
    connected: u64,
    transport: &'static str,
}

impl Crowd {
    fn spawn(
        session: &Session,
        plan: &Plan,
        ids: &[String],
        start_seqs: &[u64],
    ) -> anyhow::Result<Self> {
        let (finals, final_seqs) = watch::channel(None);
        let (give_up, give_up_rx) = watch::channel(false);
        let (ready_tx, ready) = mpsc::unbounded_channel();
        let control = Control {
            connect_permits: Arc::new(Semaphore::new(CONNECTS_IN_FLIGHT)),
            final_seqs,
            give_up: give_up_rx,
        };
        let instances = &session.deployment.instances;
        let use_grpc = plan.scenario == Scenario::GrpcFanout;
        let mut channels = Vec::new();
        let mut tasks = Vec::new();
        for (stream, id) in ids.iter().enumerate() {
            for k in 0..plan.subscribers {
                let group = k % instances.len();
                let assignment = Assignment {
                    endpoint: instances[group].http.clone(),
                    stream,
                    stream_id: id.clone(),
                    after_seq: start_seqs[stream],
                    group,
                };
                let (control, ready) = (control.clone(), ready_tx.clone());
                if use_grpc {
                    if tasks.len() % plan.grpc_streams_per_connection == 0 {
                        channels.push(grpc::channel(&instances[group].grpc)?);
                    }
                    let channel = channels[channels.len() - 1].clone();
                    tasks.push(tokio::spawn(grpc::follow(
                        assignment, channel, control, ready,
                    )));
                } else {
                    tasks.push(tokio::spawn(ws::follow(assignment, control, ready)));
                }
            }
        }
        let total = tasks.len() as u64;
        Ok(Self {
            tasks,
            ready,
            finals,
            give_up,
            total,
            connected: 0,
            transport: if use_grpc { "grpc" } else { "websocket" },
        })
    }

    /// Waits until every subscriber connected or failed to.
    async fn wait_connected(&mut self) {
        let progress = Progress::start("connect subscribers".into(), "connected", None);
        let counters = progress.counters();
        let mut answered = 0;
        while answered < self.total {
            match self.ready.recv().await {
                Some(true) => {
                    self.connected += 1;
                    counters.ok();
                }
                Some(false) => counters.failed(),
                None => break,
            }
            answered += 1;
        }
        progress.finish();
    }

    /// Tells the subscribers the final seqs, waits for them (at most [`DRAIN`]) and collects.
    async fn drain(&mut self, finals: Arc<Vec<u64>>) -> Vec<Subscriber> {
        let _ = self.finals.send(Some(finals));
        let tasks = std::mem::take(&mut self.tasks);
        let collect = async move {
            let mut subscribers = Vec::with_capacity(tasks.len());
            for task in tasks {
                if let Ok(subscriber) = task.await {
                    subscribers.push(subscriber);
                }
            }
            subscribers
        };
        tokio::pin!(collect);
        tokio::select! {
            subscribers = &mut collect => subscribers,
            _ = tokio::time::sleep(DRAIN) => {
                let _ = self.give_up.send(true);
                collect.await
            }
        }
    }
}

/// What the publishers did.
#[derive(Debug, Default)]
struct Published {
    latencies: Latencies,
    errors: Errors,
    answered: u64,
    /// 2xx PATCHes per stream.
    acknowledged: Vec<u64>,
    /// PATCHes with no answer (5xx, timeout) per stream.
    unknown: Vec<u64>,
    elapsed: Duration,
}

impl Published {
    fn ok(&self) -> u64 {
        self.acknowledged.iter().sum()
    }

    fn as_load_result(&self) -> crate::load::LoadResult<()> {
        crate::load::LoadResult {
            workloads: Vec::new(),
            latencies: self.latencies.clone(),
            errors: self.errors.clone(),
            answered: self.answered,
            ok: self.ok(),
            elapsed: self.elapsed,
        }
    }
}

/// One paced publisher per stream, each PATCHing `{"tick": n}` on instance A.
async fn publish(endpoint: &Endpoint, ids: &[String], plan: &Plan) -> Published {
    let period = Duration::from_secs_f64(ids.len() as f64 / plan.event_rate);
    let progress = Progress::start(
        format!("{} publish", plan.scenario.name()),
        "events",
        Some(plan.duration),
    );
    let started = Instant::now();
    let tasks: Vec<_> = ids
        .iter()
        .map(|id| {
            let mut client = Client::new(endpoint.clone(), plan.timeout);
            let (id, duration, counters) = (id.clone(), plan.duration, progress.counters());
            tokio::spawn(async move {
                let mut one = Published::default();
                let (mut ok, mut unknown) = (0, 0);
                let mut ticks = tokio::time::interval(period);
                ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
                for tick in 1u64.. {
                    ticks.tick().await;
                    if started.elapsed() >= duration {
                        break;
                    }
                    let req = api::patch_req(&id, json!({ "tick": tick }));
                    let sent = Instant::now();
                    match client.send(&req).await {
                        Ok(reply) if reply.is_success() => {
                            one.latencies.record(sent.elapsed());
                            one.answered += 1;
                            ok += 1;
                            counters.ok();
                        }
                        Ok(reply) => {
                            one.latencies.record(sent.elapsed());
                            one.answered += 1;
                            one.errors.add(status_kind(&reply));
                            unknown += u64::from(reply.status >= 500);
                            counters.failed();
                        }
                        Err(failure) => {
                            one.errors.add(failure.kind());
                            unknown += 1;
                            counters.failed();
                        }
                    }
                }
                (one, ok, unknown)
            })
        })
        .collect();
    let mut published = Published::default();
    for task in tasks {
        let (one, ok, unknown) = task.await.unwrap_or_default();
        published.latencies.merge(&one.latencies);
        published.errors.merge(&one.errors);
        published.answered += one.answered;
        published.acknowledged.push(ok);
        published.unknown.push(unknown);
    }
    published.elapsed = started.elapsed();
    progress.finish();
    published
}

/// Deliveries summarised over all subscribers.
struct Summary {
    seq: SeqCounts,
    errors: Errors,
    all: Latencies,
    first: Latencies,
    last: Latencies,
    local_last: Latencies,
    remote_last: Latencies,
    deliveries: u64,
}

impl Summary {
    fn of(subscribers: &[Subscriber], finals: &[u64], cross: bool) -> Self {
        let groups = if cross { 2 } else { 1 };
        let mut connected = vec![vec![0u32; groups]; finals.len()];
        for subscriber in subscribers.iter().filter(|s| s.connected) {
            connected[subscriber.assignment.stream][subscriber.assignment.group] += 1;
        }
        let mut books: Vec<DeliveryBook> = Vec::new();
        let mut group_books: Vec<Vec<DeliveryBook>> = Vec::new();
        for (stream, counts) in connected.iter().enumerate() {
            let start = subscribers
                .iter()
                .find(|s| s.assignment.stream == stream)
                .map_or(0, |s| s.assignment.after_seq);
            books.push(DeliveryBook::new(start, counts.iter().sum()));
            group_books.push(
                counts
                    .iter()
                    .map(|n| DeliveryBook::new(start, *n))
                    .collect(),
            );
        }
        let mut summary = Summary {
            seq: SeqCounts::default(),
            errors: Errors::default(),
            all: Latencies::new(),
            first: Latencies::new(),
            last: Latencies::new(),
            local_last: Latencies::new(),
            remote_last: Latencies::new(),
            deliveries: 0,
        };
        for subscriber in subscribers {
            let stream = subscriber.assignment.stream;
            summary.seq.add(&subscriber.tracker.counts(finals[stream]));
            if let Some(kind) = &subscriber.error {
                summary.errors.add(kind.clone());
            }
            summary.deliveries += subscriber.arrivals.len() as u64;
            for (seq, micros) in &subscriber.arrivals {
                summary.all.record_micros(*micros);
                books[stream].record(*seq, *micros);
                group_books[stream][subscriber.assignment.group].record(*seq, *micros);
            }
        }
        for book in &books {
            book.summarise_into(&mut summary.first, &mut summary.last);
        }
        if cross {
            let mut ignored = Latencies::new();
            for stream_books in &group_books {
                stream_books[0].summarise_into(&mut ignored, &mut summary.local_last);
                stream_books[1].summarise_into(&mut ignored, &mut summary.remote_last);
            }
        }
        summary
    }

    fn report(
        &self,
        plan: &Plan,
        crowd: &Crowd,
        published: &Published,
        window: Duration,
        rss_per_subscriber: Option<f64>,
    ) -> FanoutReport {
        let cross = (plan.scenario == Scenario::CrossInstance).then(|| {
            let (local, remote) = (self.local_last.summary(), self.remote_last.summary());
            CrossReport {
                local_last_ms: local,
                remote_last_ms: remote,
                added_p99_ms: ((remote.p99 - local.p99) * 1000.0).round() / 1000.0,
            }
        });
        FanoutReport {
            transport: crowd.transport.to_owned(),
            subscribers: crowd.total,
            connected: crowd.connected,
            events: published.ok(),
            events_per_s: round1(published.ok() as f64 / published.elapsed.as_secs_f64().max(1e-9)),
            deliveries: self.deliveries,
            deliveries_per_s: round1(self.deliveries as f64 / window.as_secs_f64().max(1e-9)),
            seq: self.seq,
            delivery_ms: self.all.summary(),
            first_subscriber_ms: self.first.summary(),
            last_subscriber_ms: self.last.summary(),
            first_subscriber_curve: self.first.percentile_curve(),
            last_subscriber_curve: self.last.percentile_curve(),
            rss_per_subscriber_bytes: rss_per_subscriber.map(|b| b.round()),
            cross,
        }
    }
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

fn check(
    correctness: &mut crate::report::Correctness,
    summary: &Summary,
    published: &Published,
    start_seqs: &[u64],
    finals: &[u64],
    total: u64,
) {
    let connected_all = summary.errors.total() == 0;
    correctness.expect(
        connected_all,
        "every subscription stays connected without error",
        || summary.errors.describe(),
    );
    correctness.expect(
        summary.seq.is_clean(),
        "no event lost, duplicated or out of order",
        || {
            format!(
                "lost {}, duplicated {}, out of order {} over {total} subscriptions",
                summary.seq.lost, summary.seq.duplicated, summary.seq.out_of_order
            )
        },
    );
    for (stream, (start, last)) in start_seqs.iter().zip(finals).enumerate() {
        let low = start + published.acknowledged[stream];
        let high = low + published.unknown[stream];
        correctness.expect(
            (low..=high).contains(last),
            "one event per acknowledged PATCH (final seq = start + 2xx)",
            || format!("stream {stream}: final seq {last}, expected {low}..={high}"),
        );
    }
}
